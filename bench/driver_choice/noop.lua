-- wrk script: GET /noop (framework-only control, no DB) with the API key header
wrk.method = "GET"
wrk.headers["X-Api-Key"] = os.getenv("API_KEY")
wrk.headers["Accept"] = "application/json"
