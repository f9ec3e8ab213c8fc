-- wrk script for the Open311 POST throughput figure (docs/PERFORMANCE.md, "Governance").
-- wrk -t2 -c8 -d10s -s tests/api/open311/bench_post.lua http://127.0.0.1:PORT
wrk.method = "POST"
wrk.path = "/open311/v2/requests.json"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "api_key=cityroom-demo-key&service_code=illegal-parking&lat=37.5006&long=127.0366" ..
           "&description=%EA%B3%B5%EC%98%81%EC%A3%BC%EC%B0%A8%EC%9E%A5%EC%97%90+%EB%B6%88%EB%B2%95" ..
           "&first_name=%EC%98%81%ED%9D%AC&phone=010-9999-8888"
