{{ kpi_team_mart('marketing') }}
