{{ kpi_team_mart('management') }}
