-- wrk script: GET one watchlist, counting statuses so the report can show errors.
-- The path and auth header come from the command line (wrk -H, URL).
local statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
