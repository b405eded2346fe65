# The ragsync image of docker-compose.yaml: Airflow's official image plus the ragsync package
# (DAG code, readers, delivery, the RAG Sync plugin through its airflow.plugins entry point) and
# the ragsync-dev package (the demo shop loader and the reference receiver).
#
#   docker compose build        # or: docker build -t ragsync-airflow:local .
#
# The official image already carries the MySQL provider and mysqlclient (its default extras
# include "mysql"), PostgreSQL, Redis and Celery. As Airflow's "Building the image" guide asks:
# pip runs as the airflow user (the image refuses pip as root), and apache-airflow is named at
# the image's own version so that the resolver can never up- or downgrade it; constraints.txt
# pins everything else to the versions the project is tested with.
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:0 . /opt/ragsync
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/ragsync /opt/ragsync/dev \
        -c /opt/ragsync/constraints.txt \
    && python -c "import MySQLdb, ragsync.dags, ragsync.plugin, ragsync_dev.demo.shop, ragsync_dev.receiver.server" \
    && ragsync --help >/dev/null
