-- D3 (bench/dav.sh): the requests rclone's webdav backend (vendor other) sends for each file it copies
-- up, without rclone's pacer: MKCOL of the destination folder (which exists: 405), PUT of the file
-- (1 to 4 KiB), PROPFIND Depth 0 of it with rclone's property list. Run with as many threads as
-- connections (`wrk -tN -cN`): each thread has one connection and its own state, so each connection
-- sends its three requests in order, as one of rclone's transfers does. Names are new on every request
-- sequence (t<thread>-<n>.txt), so every PUT creates a file.
-- The folder is the script's first argument (default /up/). done() prints `d3_files=… d3_bad=…`:
-- complete sequences, and answers other than 405/201/207 (a 201 or 204 for MKCOL counts as good too).

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local folder, bodies, props, step, n
files, bad = 0, 0 -- globals: done() reads them from each thread
local expect = { [0] = { [201] = true, [204] = true, [405] = true }, [1] = { [201] = true, [204] = true }, [2] = { [207] = true } }

function init(args)
  folder = args[1] or "/up/"
  bodies = {}
  -- 16 sizes from 1 KiB to 4 KiB, printable bytes
  for k = 0, 15 do
    local size = 1024 + math.floor(k * 3072 / 15)
    bodies[k + 1] = string.rep("abcdefghijklmnopqrstuvwxyz012345", math.ceil(size / 32)):sub(1, size)
  end
  props = '<?xml version="1.0"?>\n<d:propfind xmlns:d="DAV:">\n <d:prop>\n  <d:displayname/>\n  <d:getlastmodified/>\n'
    .. '  <d:getcontentlength/>\n  <d:resourcetype/>\n </d:prop>\n</d:propfind>\n'
  step, n, files, bad = 0, 0, 0, 0
end

local sent
function request()
  local name = string.format("%st%d-%06d.txt", folder, id, n)
  sent = step
  if step == 0 then
    step = 1
    return wrk.format("MKCOL", folder, {}, nil)
  elseif step == 1 then
    step = 2
    return wrk.format("PUT", name, { ["Content-Type"] = "text/plain; charset=utf-8" }, bodies[n % 16 + 1])
  else
    step = 0
    n = n + 1
    return wrk.format("PROPFIND", name, { ["Depth"] = "0", ["Content-Type"] = "text/xml" }, props)
  end
end

function response(status, headers, body)
  if not expect[sent][status] then bad = bad + 1 end
  if sent == 2 then files = files + 1 end
end

function done(summary, latency, requests)
  local f, b = 0, 0
  for _, t in ipairs(threads) do
    f = f + (t:get("files") or 0)
    b = b + (t:get("bad") or 0)
  end
  io.write(string.format("d3_files=%d d3_bad=%d\n", f, b))
end
