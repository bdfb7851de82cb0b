"""Reports over ClickHouse and the dashboards that show them (web, Grafana)."""
