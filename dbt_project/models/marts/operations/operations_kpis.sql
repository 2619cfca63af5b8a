{{ kpi_team_mart('operations') }}
