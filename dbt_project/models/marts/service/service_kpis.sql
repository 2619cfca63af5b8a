{{ kpi_team_mart('customer_service') }}
