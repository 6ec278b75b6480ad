-- GET with the API key header: wrk ... -s get.lua URL -- API_KEY
function init(args)
  wrk.headers["X-Api-Key"] = args[1]
end
