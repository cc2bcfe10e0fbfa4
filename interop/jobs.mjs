// Runs Polytomic's official TypeScript SDK (npm "polytomic", pinned in
// package.json) unchanged against a polyjobs server and prints one JSON line
// per check: {"name": ..., "ok": true|false, "detail": ...}. Exits 1 when any
// check fails, 2 when the configuration is incomplete.
//
// Configuration, from the environment (interop_test.go sets it):
//
//   INTEROP_BASE_URL      the server, e.g. http://127.0.0.1:4242
//   INTEROP_USER_KEY      a user API key (bearer)
//   INTEROP_ORG_ID        an organization id and
//   INTEROP_ORG_KEY       one of its organization-scoped keys (basic)
//   INTEROP_DONE_JOB      an exportlogs job that is done with {"url": INTEROP_DONE_URL}
//   INTEROP_DONE_URL      that job's result URL
//   INTEROP_RUNNING_JOB   a samplemodel job that is running
//   INTEROP_FAILED_JOB    a previewmodel job that failed with INTEROP_FAILED_ERROR
//   INTEROP_FAILED_ERROR  that job's error message
//   INTEROP_PHASE         "main" (default): the checks against the server as is;
//                         "faults": the checks that expect the server's next
//                         request to fail with a 500 (servertest.FailNext)
//   INTEROP_ONLY          optional: a comma-separated list of checks to run
//
// What the SDK (polytomic@1.18.1) does, read from node_modules/polytomic:
//
//   - The package is CommonJS ("main": "./index.js", no "type"), so it is
//     loaded here through its default export.
//   - new PolytomicClient({ environment, token, version }) (Client.d.ts):
//     `environment` is the base URL (default https://app.polytomic.com,
//     environments.js), `token` a bearer token, `version` the
//     X-Polytomic-Version header, sent only when set.
//   - client.jobs.get(id: string, type: string, requestOptions?) returns
//     Promise<JobResponseEnvelope> (api/resources/jobs/client/Client.d.ts:52).
//     It joins `api/jobs/${encodeURIComponent(type)}/${encodeURIComponent(id)}`
//     onto the base URL with no client-side validation of either, and returns
//     the parsed JSON body as is (no schema validation).
//   - Errors (api/resources/jobs/client/Client.js:101-116): 400 ->
//     Polytomic.BadRequestError(ApiError), 401 -> Polytomic.UnauthorizedError
//     (RestErrResponse), 404 -> Polytomic.NotFoundError(ApiError), 500 ->
//     Polytomic.InternalServerError(ApiError), any other status -> a plain
//     PolytomicError. Each carries .statusCode and the decoded .body.
//   - Authorization is always `Bearer ${token}` (Jobs._getAuthorizationHeader,
//     Client.js:133-137). There is no Basic-auth option: core/auth/BasicAuth.js
//     exists but no client uses it. The basic_auth checks below therefore
//     subclass the (unexported) Jobs class and override the protected
//     _getAuthorizationHeader: a workaround, not a public SDK feature.

import polytomic from "polytomic";
// core is not re-exported by the package's index; it is loaded by path (the
// package has no "exports" map, so deep imports resolve).
import polytomicCore from "polytomic/core/index.js";

const { PolytomicClient, Polytomic, PolytomicError } = polytomic;

const env = (name) => process.env[name] ?? "";
const cfg = {
  baseURL: env("INTEROP_BASE_URL"),
  userKey: env("INTEROP_USER_KEY"),
  orgID: env("INTEROP_ORG_ID"),
  orgKey: env("INTEROP_ORG_KEY"),
  doneJob: env("INTEROP_DONE_JOB"),
  doneURL: env("INTEROP_DONE_URL"),
  runningJob: env("INTEROP_RUNNING_JOB"),
  failedJob: env("INTEROP_FAILED_JOB"),
  failedError: env("INTEROP_FAILED_ERROR"),
};
const missing = [
  "INTEROP_BASE_URL",
  "INTEROP_USER_KEY",
  "INTEROP_ORG_ID",
  "INTEROP_ORG_KEY",
  "INTEROP_DONE_JOB",
  "INTEROP_DONE_URL",
  "INTEROP_RUNNING_JOB",
  "INTEROP_FAILED_JOB",
  "INTEROP_FAILED_ERROR",
].filter((name) => env(name) === "");
if (missing.length > 0) {
  console.error(`jobs.mjs: missing configuration: ${missing.join(", ")}`);
  process.exit(2);
}
const phase = env("INTEROP_PHASE") || "main";
if (phase !== "main" && phase !== "faults") {
  console.error(`jobs.mjs: unknown INTEROP_PHASE ${JSON.stringify(phase)}`);
  process.exit(2);
}
const only = new Set(
  env("INTEROP_ONLY")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);

// A job id that exists nowhere.
const unknownJob = "00000000-0000-4000-8000-000000000000";
// Short per-request timeout; no retries, so that a 5xx shows up as itself.
const requestOptions = { timeoutInSeconds: 20, maxRetries: 0 };

function client(options = {}) {
  return new PolytomicClient({
    environment: cfg.baseURL,
    token: cfg.userKey,
    ...options,
  });
}

// basicJobs returns the SDK's own Jobs client with its Authorization header
// replaced by Basic credentials, built with the SDK's own (unused) helper.
function basicJobs(username, password) {
  const Jobs = client().jobs.constructor;
  const header = polytomicCore.BasicAuth.toAuthorizationHeader({ username, password });
  class BasicJobs extends Jobs {
    async _getAuthorizationHeader() {
      return header;
    }
  }
  return new BasicJobs({ environment: cfg.baseURL, token: "" });
}

class CheckError extends Error {}

function expect(cond, what) {
  if (!cond) throw new CheckError(what);
}

function eq(got, want, what) {
  expect(
    JSON.stringify(got) === JSON.stringify(want),
    `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
  );
}

// isNullish accepts what the SDK's JobResponse type allows for an absent
// value: the field may be null (what the server sends) or missing.
const isNullish = (v) => v === null || v === undefined;

// expectThrows runs fn and checks that it rejects with an instance of
// errorClass (and of PolytomicError) carrying statusCode; it returns the error.
async function expectThrows(fn, errorClass, statusCode) {
  let got;
  try {
    const res = await fn();
    throw new CheckError(
      `want ${errorClass.name} (${statusCode}), got success: ${JSON.stringify(res)}`,
    );
  } catch (err) {
    if (err instanceof CheckError) throw err;
    got = err;
  }
  expect(
    got instanceof errorClass,
    `want ${errorClass.name}, got ${got?.constructor?.name}: ${got?.message}`,
  );
  expect(got instanceof PolytomicError, `${errorClass.name} is not a PolytomicError`);
  eq(got.statusCode, statusCode, "statusCode");
  return got;
}

// expectApiError checks the body of a 400/404: Polytomic.ApiError.
function expectApiError(body, status) {
  expect(body !== null && typeof body === "object", `body is not an object: ${JSON.stringify(body)}`);
  eq(body.status, status, "body.status (ApiError, an integer)");
  expect(
    typeof body.message === "string" && body.message.length > 0,
    `body.message is not a non-empty string: ${JSON.stringify(body.message)}`,
  );
  if (body.key !== undefined) expect(typeof body.key === "string", "body.key is not a string");
  if (body.metadata !== undefined)
    expect(body.metadata !== null && typeof body.metadata === "object", "body.metadata is not an object");
}

// expectRestErr checks the body of a 401: Polytomic.RestErrResponse.
function expectRestErr(body) {
  expect(body !== null && typeof body === "object", `body is not an object: ${JSON.stringify(body)}`);
  eq(body.code, 401, "body.code (RestErrResponse, an integer)");
  eq(body.status, "Unauthorized", "body.status (RestErrResponse, the status text)");
  expect(
    typeof body.error === "string" && body.error.length > 0,
    `body.error is not a non-empty string: ${JSON.stringify(body.error)}`,
  );
  if (body.context !== undefined)
    expect(body.context !== null && typeof body.context === "object", "body.context is not an object");
}

const checks = [
  {
    name: "done_job",
    async run() {
      const env = await client().jobs.get(cfg.doneJob, "exportlogs", requestOptions);
      const job = env?.data;
      expect(job, `no data in ${JSON.stringify(env)}`);
      eq(job.job_id, cfg.doneJob, "data.job_id");
      eq(job.type, "exportlogs", "data.type");
      eq(job.status, Polytomic.WorkTaskStatus.Done, "data.status");
      eq(job.result, { url: cfg.doneURL }, "data.result");
      expect(isNullish(job.error), `data.error: got ${JSON.stringify(job.error)}, want null`);
      return job;
    },
  },
  {
    name: "running_job",
    async run() {
      const env = await client().jobs.get(cfg.runningJob, "samplemodel", requestOptions);
      const job = env?.data;
      expect(job, `no data in ${JSON.stringify(env)}`);
      eq(job.job_id, cfg.runningJob, "data.job_id");
      eq(job.type, "samplemodel", "data.type");
      eq(job.status, Polytomic.WorkTaskStatus.Running, "data.status");
      expect(isNullish(job.result), `data.result: got ${JSON.stringify(job.result)}, want null`);
      expect(isNullish(job.error), `data.error: got ${JSON.stringify(job.error)}, want null`);
      return job;
    },
  },
  {
    name: "failed_job",
    async run() {
      const env = await client().jobs.get(cfg.failedJob, "previewmodel", requestOptions);
      const job = env?.data;
      expect(job, `no data in ${JSON.stringify(env)}`);
      eq(job.job_id, cfg.failedJob, "data.job_id");
      eq(job.type, "previewmodel", "data.type");
      eq(job.status, Polytomic.WorkTaskStatus.Failed, "data.status");
      expect(isNullish(job.result), `data.result: got ${JSON.stringify(job.result)}, want null`);
      eq(job.error, cfg.failedError, "data.error");
      return job;
    },
  },
  {
    name: "version_header",
    // The SDK sends X-Polytomic-Version only when `version` is set.
    async run() {
      const env = await client({ version: "2025-09-18" }).jobs.get(cfg.doneJob, "exportlogs", requestOptions);
      eq(env?.data?.status, "done", "data.status");
      return env.data;
    },
  },
  {
    name: "unknown_version_bad_request",
    // Proves the header really goes out: the server refuses an unknown version.
    async run() {
      const err = await expectThrows(
        () => client({ version: "1999-01-01" }).jobs.get(cfg.doneJob, "exportlogs", requestOptions),
        Polytomic.BadRequestError,
        400,
      );
      expectApiError(err.body, 400);
      return err.body;
    },
  },
  {
    name: "unknown_job_not_found",
    async run() {
      const err = await expectThrows(
        () => client().jobs.get(unknownJob, "exportlogs", requestOptions),
        Polytomic.NotFoundError,
        404,
      );
      expectApiError(err.body, 404);
      return err.body;
    },
  },
  {
    name: "wrong_type_not_found",
    // The done job is an exportlogs job: asked for as samplemodel, it is a 404.
    async run() {
      const err = await expectThrows(
        () => client().jobs.get(cfg.doneJob, "samplemodel", requestOptions),
        Polytomic.NotFoundError,
        404,
      );
      expectApiError(err.body, 404);
      return err.body;
    },
  },
  {
    name: "unknown_type_bad_request",
    // The SDK does not validate `type` client-side (it is a plain string,
    // only URI-encoded), so the request reaches the server: the body checked
    // here is the server's.
    async run() {
      const err = await expectThrows(
        () => client().jobs.get(cfg.doneJob, "notajobtype", requestOptions),
        Polytomic.BadRequestError,
        400,
      );
      expectApiError(err.body, 400);
      return err.body;
    },
  },
  {
    name: "malformed_id_bad_request",
    async run() {
      const err = await expectThrows(
        () => client().jobs.get("not-a-uuid", "exportlogs", requestOptions),
        Polytomic.BadRequestError,
        400,
      );
      expectApiError(err.body, 400);
      return err.body;
    },
  },
  {
    name: "bad_key_unauthorized",
    async run() {
      const err = await expectThrows(
        () => client({ token: "not-a-real-key" }).jobs.get(cfg.doneJob, "exportlogs", requestOptions),
        Polytomic.UnauthorizedError,
        401,
      );
      expectRestErr(err.body);
      return err.body;
    },
  },
  {
    name: "empty_key_unauthorized",
    // An empty token makes the SDK send "Authorization: Bearer ".
    async run() {
      const err = await expectThrows(
        () => client({ token: "" }).jobs.get(cfg.doneJob, "exportlogs", requestOptions),
        Polytomic.UnauthorizedError,
        401,
      );
      expectRestErr(err.body);
      return err.body;
    },
  },
  {
    name: "basic_auth_org_key",
    // Not a public SDK option: see basicJobs.
    async run() {
      const env = await basicJobs(cfg.orgID, cfg.orgKey).get(cfg.doneJob, "exportlogs", requestOptions);
      const job = env?.data;
      eq(job?.job_id, cfg.doneJob, "data.job_id");
      eq(job?.status, "done", "data.status");
      eq(job?.result, { url: cfg.doneURL }, "data.result");
      return job;
    },
  },
  {
    name: "basic_auth_bad_key_unauthorized",
    async run() {
      const err = await expectThrows(
        () => basicJobs(cfg.orgID, "not-a-real-key").get(cfg.doneJob, "exportlogs", requestOptions),
        Polytomic.UnauthorizedError,
        401,
      );
      expectRestErr(err.body);
      return err.body;
    },
  },
  {
    name: "server_error_internal_server_error",
    phase: "faults",
    // maxRetries 0: the SDK would otherwise retry a 5xx (twice by default,
    // 0 ms then 1 ms apart, ignoring Retry-After: core/fetcher/Fetcher.js).
    async run() {
      const err = await expectThrows(
        () => client().jobs.get(cfg.doneJob, "exportlogs", requestOptions),
        Polytomic.InternalServerError,
        500,
      );
      expectApiError(err.body, 500);
      return err.body;
    },
  },
];

let failed = 0;
for (const check of checks) {
  if ((check.phase ?? "main") !== phase) continue;
  if (only.size > 0 && !only.has(check.name)) continue;
  let line;
  try {
    const detail = await check.run();
    line = { name: check.name, ok: true, detail };
  } catch (err) {
    failed++;
    const detail =
      err instanceof CheckError
        ? err.message
        : `unexpected ${err?.constructor?.name}: ${err?.stack ?? err}`;
    line = { name: check.name, ok: false, detail };
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
process.exitCode = failed > 0 ? 1 : 0;
