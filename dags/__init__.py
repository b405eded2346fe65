"""The ragsync DAG files. Point Airflow's DAGs folder here (`ragsync dags path`) or copy them (`ragsync dags install DIR`)."""
