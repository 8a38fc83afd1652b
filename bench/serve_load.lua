-- wrk script of bench/serve_load.sh: reviewers listing and deciding.
--
-- Every other request is a listing, `GET /api/findings` with one of a few
-- filter sets and limit=50 (some with an offset); the others are decisions,
-- `POST /api/findings/{id}/review`, dismiss then reopen (with a note) of
-- the same finding, over and over. Each wrk thread owns its own findings
-- (the ids in FINSCAN_LOAD_IDS, one a line, dealt out by thread), and a
-- finding gets its next decision only after the answer to its previous
-- one has come back (the answer names the finding), so no decision is
-- ever refused for the finding's state: every non-2xx answer is a defect.
-- When all of a thread's findings wait for an answer, it lists instead.
--
-- env: FINSCAN_LOAD_TOKEN (a reviewer's token), FINSCAN_LOAD_IDS (file),
--      FINSCAN_LOAD_THREADS (wrk -t, to deal the ids out)
-- done() prints one line starting with "LOAD " for serve_load.sh.

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

local listings = {
  "/api/findings?limit=50",
  "/api/findings?status=new&limit=50",
  "/api/findings?severity=high&limit=50&offset=50",
  "/api/findings?category=fund-pool&limit=50",
  "/api/findings?category=guaranteed-return&severity=high&limit=50",
  "/api/findings?sort=time&limit=50",
  "/api/findings?status=dismissed&limit=50",
  "/api/findings?search=%E4%BF%9D%E6%9C%AC&limit=50", -- search=保本
  "/api/findings?source=page&sort=site&limit=50&offset=100",
}

local token, ids, next_action, free, free_list
local n = 0
lists, reviews, bad, answered = 0, 0, 0, 0

function init(args)
  token = os.getenv("FINSCAN_LOAD_TOKEN")
  local nthreads = tonumber(os.getenv("FINSCAN_LOAD_THREADS") or "1")
  ids, next_action, free = {}, {}, {}
  local k = 0
  for line in io.lines(os.getenv("FINSCAN_LOAD_IDS")) do
    if k % nthreads == thread_no and #line > 0 then
      table.insert(ids, line)
      next_action[line] = "dismiss"
      free[line] = true
    end
    k = k + 1
  end
  free_list = {}
  for _, id in ipairs(ids) do table.insert(free_list, id) end
  if #ids == 0 then
    io.stderr:write("serve_load.lua: thread " .. thread_no .. " owns no finding\n")
  end
end

local function take_free()
  -- the first free finding, round robin
  while #free_list > 0 do
    local id = table.remove(free_list, 1)
    if free[id] then
      free[id] = false
      return id
    end
  end
  return nil
end

function request()
  n = n + 1
  local headers = { ["Authorization"] = "Bearer " .. token }
  if n % 2 == 0 then
    local id = take_free()
    if id then
      reviews = reviews + 1
      local action = next_action[id]
      local body
      if action == "dismiss" then
        body = '{"action":"dismiss","reviewer":"load-test","note":"bench: not a violation"}'
      else
        body = '{"action":"reopen","reviewer":"load-test","note":"bench: reopened to decide again"}'
      end
      headers["Content-Type"] = "application/json"
      return wrk.format("POST", "/api/findings/" .. id .. "/review", headers, body)
    end
  end
  lists = lists + 1
  return wrk.format("GET", listings[(n % #listings) + 1], headers)
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    bad = bad + 1
    if bad <= 5 then
      io.stderr:write("serve_load.lua: HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
  -- a decision's answer: {"event":{...},"finding":{"id":"…",…}} (keys sorted);
  -- a listing's starts with {"findings":
  if string.sub(body, 1, 12) ~= '{"findings":' then
    local id = string.match(body, '"finding":{.-"id":"(%x+)"')
    if id and free[id] == false then
      if status >= 200 and status <= 299 then
        if next_action[id] == "dismiss" then next_action[id] = "reopen" else next_action[id] = "dismiss" end
      end
      free[id] = true
      table.insert(free_list, id)
    end
  end
end

function done(summary, latency, requests)
  local l, r, b, a = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    l = l + t:get("lists")
    r = r + t:get("reviews")
    b = b + t:get("bad")
    a = a + t:get("answered")
  end
  local e = summary.errors
  io.write(string.format(
    "LOAD requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "status_errors=%d connect=%d read=%d write=%d timeout=%d lists=%d reviews=%d bad=%d answered=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, l, r, b, a))
end
