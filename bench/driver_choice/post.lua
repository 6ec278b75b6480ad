-- wrk script: POST /items with a JSON body and a valid API key (env API_KEY)
wrk.method = "POST"
wrk.headers["X-Api-Key"] = os.getenv("API_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"name": "benchmark widget", "amount": 4200}'
