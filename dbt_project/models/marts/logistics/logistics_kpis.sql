{{ kpi_team_mart('logistics') }}
