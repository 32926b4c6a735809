-- wrk script: POST the file named by $BODY as JSON (bench/modelserve.sh).
local f = io.open(os.getenv("BODY"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "application/json"
f:close()
