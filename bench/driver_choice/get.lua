-- wrk script: GET /items with a valid API key (key passed via env API_KEY)
wrk.method = "GET"
wrk.headers["X-Api-Key"] = os.getenv("API_KEY")
wrk.headers["Accept"] = "application/json"
