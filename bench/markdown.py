"""Print how long html_to_markdown takes for a typical 1.5 KB Page Builder product description.

Run: ``.venv/bin/python bench/markdown.py [--number N] [--repeat R]``. Prints the best and the
median of R rounds of N calls, for the whole function and for the Rust core alone (the
difference is ragsync's own pre- and post-processing). Rounds of the two alternate, so both see
the same machine; the best round is the figure to compare, since other processes on the machine
only ever make a round slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version

from html_to_markdown import convert_with_handle

from ragsync.documents import markdown

DESCRIPTION = (
    '<style>#html-body [data-pb-style=K7XH2QP]{justify-content:flex-start;display:flex;'
    'flex-direction:column;background-position:left top;background-size:cover}</style>'
    '<div data-content-type="row" data-appearance="contained" data-element="main">'
    '<div data-enable-parallax="0" data-parallax-speed="0.5" data-background-images="{}" '
    'data-background-type="image" data-video-loop="true" data-element="inner" data-pb-style="K7XH2QP">'
    '<div data-content-type="text" data-appearance="default" data-element="main">'
    '<h2>Stay dry &amp; warm on every trail</h2>'
    '<p>The <strong>Cruise Dual Analog</strong> jacket is <em>50% off</em> this week &mdash; a '
    'lightweight shell for hikers, runners and C++ developers who need a break.</p>'
    '<ul><li>Waterproof, breathable 2.5-layer shell</li><li>Fleece lining<ul><li>Removable</li>'
    '<li>Machine washable at 30&nbsp;&deg;C</li></ul></li><li>Two zippered hand pockets</li></ul>'
    '<p>Not sure about the fit? See our <a href="https://shop.example.com/size-guide">size guide</a>.</p>'
    '<table><thead><tr><th>Size</th><th>Chest (cm)</th><th>Length (cm)</th></tr></thead><tbody>'
    '<tr><td>S</td><td>88&ndash;94</td><td>70</td></tr><tr><td>M</td><td>96&ndash;102</td><td>72</td></tr>'
    '<tr><td>L</td><td>104&ndash;110</td><td>74</td></tr></tbody></table></div>'
    '<div data-content-type="buttons" data-appearance="inline" data-same-width="false" data-element="main">'
    '<div data-content-type="button-item" data-appearance="default" data-element="main">'
    '<a class="pagebuilder-button-primary" href="https://shop.example.com/jackets.html" target="" '
    'data-link-type="default" data-element="link"><span data-element="link_text">Shop all jackets</span>'
    '</a></div></div></div></div>'
)


def main() -> None:
    """Time the conversion of DESCRIPTION and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--number", type=int, default=300, help="calls per round")
    parser.add_argument("--repeat", type=int, default=40, help="rounds")
    args = parser.parse_args()
    html = DESCRIPTION
    options = markdown._OPTIONS

    def whole() -> None:
        markdown.html_to_markdown(html)

    def core() -> None:
        convert_with_handle(html, options)

    def one_round(call: Callable[[], None]) -> float:
        start = time.perf_counter()
        for _ in range(args.number):
            call()
        return (time.perf_counter() - start) / args.number * 1e6

    whole_rounds: list[float] = []
    core_rounds: list[float] = []
    for _ in range(args.repeat):
        whole_rounds.append(one_round(whole))
        core_rounds.append(one_round(core))

    size = len(html.encode("utf-8"))
    print(f"html-to-markdown {version('html-to-markdown')}, description {size} bytes, "
          f"{args.repeat} rounds x {args.number} calls, microseconds per call")
    print(f"html_to_markdown():  best {min(whole_rounds):6.1f}  median {statistics.median(whole_rounds):6.1f}")
    print(f"Rust core alone:     best {min(core_rounds):6.1f}  median {statistics.median(core_rounds):6.1f}")
    print(f"ragsync's own work:  best {min(whole_rounds) - min(core_rounds):6.1f}")


if __name__ == "__main__":
    main()
