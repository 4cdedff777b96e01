"""Who may talk to the server (stations, operators, web users); how a station finds and joins it."""
