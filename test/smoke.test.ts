import assert from "node:assert/strict";
import { test } from "node:test";
import { FIXTURES, request, serve } from "./helpers.js";

test("the sample site's index page is served for /", async (t) => {
  const server = await serve(t, { root: FIXTURES });
  const res = await request(server.port, "/");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
  assert.match(res.body.toString(), /It works\./);
});
