"""fake_awx: a contract fake of the AWX / Automation Controller REST API for ansible-rulebook's run_job_template.

Why a fake: AWX cannot run on the lab machines (it needs Kubernetes or Docker and a container registry, neither is
there). tests/lab/test_recover_awx.py uses this server instead to prove the AWX path of the event-driven recovery
(extensions/eda/rulebooks/recover_awx.yml): it answers exactly what ansible-rulebook asks, with the URLs, field names,
status codes and launch rules of the real API, and it runs every launched job for real - the job template's command
(e.g. ansible-playbook of hastack.openstack.recover), whose exit code makes the job successful or failed.

Contract followed: ansible-rulebook 1.3.2, the version roles/recover_rulebook pins
(recover_rulebook_ansible_rulebook_version), as its ansible_rulebook/job_template_runner.py,
shared_job_monitor.py, action/run_job_template.py, action/helper.py and app.py use the API; answers shaped as AWX
24 gives them (awx/api/serializers.py: JobTemplateSerializer, JobSerializer, JobLaunchSerializer; awx/api/views:
JobTemplateLaunch, ApiV2ConfigView, ApiV2PingView; awx/main/models: JobTemplate._accept_or_ignore_job_kwargs,
SurveyJobTemplateMixin._accept_or_ignore_variables). No code of either project is in this file.

    GET  {api}config/                       once, when ansible-rulebook starts (it logs "version"); needs auth
    GET  {api}unified_job_templates/?name=NAME[&page=N]
                                            finds the template: the result whose type is job_template, whose name
                                            is NAME and whose summary_fields.organization.name is the organization;
                                            reads id, related.launch, ask_limit_on_launch, ask_labels_on_launch,
                                            ask_inventory_on_launch, ask_variables_on_launch; follows "next"
    POST {api}job_templates/ID/launch/      body: the rule's job_args, i.e. {"extra_vars": {...the rule's
                                            extra_vars, plus ansible_eda: {ruleset, rule, event}}, "limit": "all"}
                                            (limit: the rulebook's hosts, unless job_args sets it), plus "labels":
                                            [ids] when the template asks for labels. 201: {"job": ID,
                                            "ignored_fields": {...}, ...the job}; ansible-rulebook keeps its "url"
    GET  {api}jobs/?id__in=ID[,ID...]&page_size=N
                                            polled every EDA_JOB_TEMPLATE_REFRESH_DELAY seconds (default 10) until
                                            the job's "status" is successful, failed, error or canceled; the action
                                            then reports status, created, id (and artifacts for set_facts /
                                            post_events). A "failed" job is launched again when the action has
                                            retries. ansible-rulebook 1.3.0 and older polled GET {api}jobs/ID/ (served too)
    GET  {api}organizations/?name=, GET/POST {api}labels/
                                            only for templates with ask_labels_on_launch: the job's labels
                                            ("Activated by Event-Driven Ansible" and the action's labels)
    GET  {api}job_templates/ID/jobs/?labels__name=LABEL
                                            only in ansible-rulebook's persistence mode (a job found by the
                                            eda-event-uuid label of its event)
    GET  {api}ping/                         no authentication (AWX's too); used to wait for this server
    GET  {api}jobs/ID/stdout/?format=txt    the job's output (AWX's stdout endpoint), for diagnostics

{api} is /api/v2/ for a controller URL without a path (AWX, Automation Controller 2.4: --controller-url
http://host:port) and /api/controller/v2/ for one with a path (the AAP 2.5 gateway: --controller-url
http://host:port/api/controller/); the URLs in the answers keep the prefix of the request. Authentication as AWX:
"Authorization: Bearer TOKEN" (ansible-rulebook --controller-token) or HTTP basic (--controller-username and
--controller-password); without valid credentials 401 {"detail": ...}, which ansible-rulebook reports as a failed
action (its GETs retry only 429 and 5xx).

The launch follows AWX: a field the template does not prompt for on launch (ask_*_on_launch false) is not an error
but dropped, listed under "ignored_fields" of the answer, and the job runs without it. extra_vars without "Prompt on
launch" for variables are dropped that way (ansible-rulebook does not look at ignored_fields: the job runs without
recover_event and fails). The job's variables are the template's extra_vars updated with the accepted ones, given to
the command as AWX gives them to ansible-playbook: -e @FILE (FILE also holds AWX's awx_*/tower_* job variables), plus
--limit, --tags, --skip-tags, -v..., --diff, --forks, --check when set (append_args false: nothing appended; the file
is still named by $HASTACK_FAKE_AWX_EXTRA_VARS). A job goes pending -> waiting -> running -> successful (exit code 0)
/ failed (any other, or the template's timeout) / error (the command could not start) / canceled (this server
stopped); a template without allow_simultaneous (AWX's default) runs one job at a time, the next one stays pending.

Not modelled: surveys, credentials, projects, inventories as objects, workflows, RBAC, schedules, job events.

Configuration (--config FILE, JSON; or one template from the command line, see --help):

    {"version": "24.6.1", "token": "TOKEN", "username": "admin", "password": "PASSWORD",
     "job_templates": [{"name": "hastack.openstack recover", "organization": "Default", "id": 7,
                        "ask_variables_on_launch": true, "ask_limit_on_launch": false, "allow_simultaneous": true,
                        "extra_vars": {}, "limit": "", "timeout": 0, "append_args": true,
                        "command": ["ansible-playbook", "-i", "inventory.yml", "hastack.openstack.recover"],
                        "env": {"NAME": "value"}, "cwd": "/some/dir"}]}

State directory (--state-dir): launches.jsonl (one JSON line per launch: time, job, template {id, name,
organization}, request (the body as received), extra_vars (what the job got), ignored_fields, limit),
requests.jsonl (every request: time, method, path, status), jobs/ID/job.json (the job as the API shows it, rewritten
at each change of status), jobs/ID/extra_vars.json, jobs/ID/stdout.txt.

Standard library only (http.server, threading, subprocess); run it with any Python 3.9 or later:

    python3 fake_awx.py --port 8052 --state-dir /tmp/awx --token secret --template-name demo \
        --ask-variables-on-launch -- ansible-playbook -i inventory.yml site.yml
"""

import argparse
import base64
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

COMPLETED = ("successful", "failed", "error", "canceled")
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
API_PATH = re.compile(r"^/api/(controller/)?v2/(.*)$")
# Launch fields and the template flag that lets each through (AWX's JobTemplate.get_ask_mapping()).
ASK_MAPPING = {
    "extra_vars": "ask_variables_on_launch",
    "inventory": "ask_inventory_on_launch",
    "limit": "ask_limit_on_launch",
    "scm_branch": "ask_scm_branch_on_launch",
    "job_tags": "ask_tags_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
    "job_type": "ask_job_type_on_launch",
    "verbosity": "ask_verbosity_on_launch",
    "diff_mode": "ask_diff_mode_on_launch",
    "credentials": "ask_credential_on_launch",
    "execution_environment": "ask_execution_environment_on_launch",
    "labels": "ask_labels_on_launch",
    "forks": "ask_forks_on_launch",
    "job_slice_count": "ask_job_slice_count_on_launch",
    "timeout": "ask_timeout_on_launch",
    "instance_groups": "ask_instance_groups_on_launch",
}
# A template's value of each launch field when the configuration does not set it (AWX's model defaults).
FIELD_DEFAULTS = {
    "inventory": None, "limit": "", "scm_branch": "", "job_tags": "", "skip_tags": "", "job_type": "run",
    "verbosity": 0, "diff_mode": False, "credentials": [], "execution_environment": None, "labels": [], "forks": 0,
    "job_slice_count": 1, "timeout": 0, "instance_groups": [],
}
NOT_AUTHENTICATED = "Authentication credentials were not provided."
BAD_BASIC = "Invalid username/password."


def now():
    """AWX's timestamps: ISO 8601, UTC, microseconds, Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_json(path, data):
    """Replace a file at once, so that a reader never sees half of it."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


class ApiError(Exception):
    """An answer other than 2xx, with AWX's body."""

    def __init__(self, status, body):
        super().__init__(body)
        self.status = status
        self.body = body


class Template:
    """A job template (one entry of job_templates)."""

    def __init__(self, entry, template_id, organization_id):
        if not entry.get("name") or not isinstance(entry.get("command"), list) or not entry["command"]:
            raise ValueError(f"a job template needs a name and a non-empty command list: {entry!r}")
        self.id = template_id
        self.name = entry["name"]
        self.description = entry.get("description", "")
        self.organization = entry.get("organization", "Default")
        self.organization_id = organization_id
        self.command = [str(item) for item in entry["command"]]
        self.env = {str(key): str(value) for key, value in (entry.get("env") or {}).items()}
        self.cwd = entry.get("cwd")
        self.append_args = bool(entry.get("append_args", True))
        self.allow_simultaneous = bool(entry.get("allow_simultaneous", False))
        self.extra_vars = dict(entry.get("extra_vars") or {})
        self.playbook = entry.get("playbook", "")
        self.values = {field: entry.get(field, default) for field, default in FIELD_DEFAULTS.items()}
        self.asks = {flag: bool(entry.get(flag, False)) for flag in ASK_MAPPING.values()}
        self.created = now()
        # One job at a time unless allow_simultaneous: the others stay pending (AWX's task manager).
        self.gate = None if self.allow_simultaneous else threading.Lock()


class Job:
    """A launched job and the process that runs it."""

    def __init__(self, job_id, template, extra_vars, values, labels):
        self.id = job_id
        self.template = template
        self.extra_vars = extra_vars
        self.values = values
        self.labels = labels
        self.status = "pending"
        self.created = now()
        self.modified = self.created
        self.started = None
        self.finished = None
        self.started_at = None
        self.elapsed = 0.0
        self.explanation = ""
        self.rc = None
        self.process = None
        self.canceled = False


class Store:
    """Templates, organizations, labels and jobs, shared by the request threads and the job threads."""

    def __init__(self, config, state_dir):
        self.lock = threading.RLock()
        self.state_dir = Path(state_dir)
        (self.state_dir / "jobs").mkdir(parents=True, exist_ok=True)
        self.version = str(config.get("version", "24.6.1"))
        self.token = config.get("token") or ""
        self.username = config.get("username") or ""
        self.password = config.get("password") or ""
        if not self.token and not (self.username and self.password):
            raise ValueError("configure a token, or a username and a password")
        self.organizations = {}
        self.templates = {}
        next_id = 1
        for entry in config.get("job_templates") or []:
            organization = entry.get("organization", "Default")
            organization_id = self.organizations.setdefault(organization, len(self.organizations) + 1)
            template_id = int(entry.get("id", next_id))
            if template_id in self.templates:
                raise ValueError(f"two job templates with the id {template_id}")
            self.templates[template_id] = Template(entry, template_id, organization_id)
            next_id = max(next_id, template_id + 1)
        if not self.templates:
            raise ValueError("no job template configured")
        self.labels = {}
        self.jobs = {}
        self.threads = []
        self.next_job = int(config.get("first_job_id", 1))

    # --- representations, as AWX's serializers give them ---------------------------------------------

    def organization_repr(self, name, prefix):
        org_id = self.organizations[name]
        return {"id": org_id, "type": "organization", "url": f"{prefix}organizations/{org_id}/",
                "related": {"job_templates": f"{prefix}organizations/{org_id}/job_templates/"},
                "summary_fields": {}, "created": None, "modified": None, "name": name, "description": ""}

    def label_repr(self, label, prefix):
        organization = next(name for name, org_id in self.organizations.items() if org_id == label["organization"])
        return {"id": label["id"], "type": "label", "url": f"{prefix}labels/{label['id']}/",
                "related": {"organization": f"{prefix}organizations/{label['organization']}/"},
                "summary_fields": {"organization": {"id": label["organization"], "name": organization,
                                                    "description": ""}},
                "created": label["created"], "modified": label["created"], "name": label["name"],
                "organization": label["organization"]}

    def _labels_summary(self, label_ids):
        names = [{"id": label_id, "name": self.labels[label_id]["name"]} for label_id in label_ids]
        return {"count": len(names), "results": names}

    def template_repr(self, template, prefix):
        base = f"{prefix}job_templates/{template.id}/"
        jobs = sorted((job for job in self.jobs.values() if job.template is template), key=lambda job: -job.id)
        last = next((job for job in jobs if job.status in COMPLETED), None)
        data = {
            "id": template.id, "type": "job_template", "url": base,
            "related": {"launch": f"{base}launch/", "jobs": f"{base}jobs/", "labels": f"{base}labels/",
                        "organization": f"{prefix}organizations/{template.organization_id}/",
                        "credentials": f"{base}credentials/", "survey_spec": f"{base}survey_spec/"},
            "summary_fields": {
                "organization": {"id": template.organization_id, "name": template.organization, "description": ""},
                "labels": self._labels_summary(template.values["labels"]),
                "recent_jobs": [{"id": job.id, "status": job.status, "finished": job.finished, "canceled_on": None,
                                 "type": "job"} for job in jobs[:10]],
                "credentials": [],
            },
            "created": template.created, "modified": template.created, "name": template.name,
            "description": template.description, "playbook": template.playbook, "project": None,
            "extra_vars": json.dumps(template.extra_vars), "force_handlers": False, "start_at_task": "",
            "use_fact_cache": False, "organization": template.organization_id,
            "last_job_run": last.finished if last else None, "last_job_failed": bool(last and last.status != "successful"),
            "next_job_run": None, "status": last.status if last else "never updated", "execution_environment": None,
            "host_config_key": "", "survey_enabled": False, "become_enabled": False,
            "allow_simultaneous": template.allow_simultaneous, "custom_virtualenv": None, "webhook_service": "",
            "webhook_credential": None, "prevent_instance_group_fallback": False,
        }
        data.update({field: value for field, value in template.values.items()
                     if field not in ("credentials", "labels", "instance_groups")})
        data.update(template.asks)
        return data

    def job_repr(self, job, prefix):
        template = job.template
        base = f"{prefix}jobs/{job.id}/"
        elapsed = job.elapsed
        if job.started_at is not None and job.finished is None:
            elapsed = round(time.monotonic() - job.started_at, 3)
        data = {
            "id": job.id, "type": "job", "url": base,
            "related": {"job_template": f"{prefix}job_templates/{template.id}/",
                        "unified_job_template": f"{prefix}job_templates/{template.id}/",
                        "organization": f"{prefix}organizations/{template.organization_id}/",
                        "stdout": f"{base}stdout/", "labels": f"{base}labels/", "cancel": f"{base}cancel/",
                        "relaunch": f"{base}relaunch/", "job_events": f"{base}job_events/",
                        "job_host_summaries": f"{base}job_host_summaries/", "credentials": f"{base}credentials/"},
            "summary_fields": {
                "organization": {"id": template.organization_id, "name": template.organization, "description": ""},
                "job_template": {"id": template.id, "name": template.name, "description": template.description},
                "unified_job_template": {"id": template.id, "name": template.name,
                                         "description": template.description, "unified_job_type": "job"},
                "labels": self._labels_summary(job.labels),
                "credentials": [],
            },
            "created": job.created, "modified": job.modified, "name": template.name,
            "description": template.description, "unified_job_template": template.id, "launch_type": "manual",
            "status": job.status, "execution_environment": None, "failed": job.status in ("failed", "error"),
            "started": job.started, "finished": job.finished, "canceled_on": job.finished if job.canceled else None,
            "elapsed": float(elapsed), "job_explanation": job.explanation, "execution_node": "localhost",
            "controller_node": "localhost", "launched_by": {"id": 1, "name": self.username or "admin", "type": "user",
                                                            "url": f"{prefix}users/1/"},
            "work_unit_id": None, "playbook": template.playbook, "project": None,
            "extra_vars": json.dumps(job.extra_vars), "force_handlers": False, "start_at_task": "",
            "use_fact_cache": False, "organization": template.organization_id, "job_template": template.id,
            "passwords_needed_to_start": [], "allow_simultaneous": template.allow_simultaneous, "artifacts": {},
            "scm_revision": "", "instance_group": None, "job_slice_number": 0, "webhook_service": "",
            "webhook_credential": None, "webhook_guid": "",
        }
        data.update({field: value for field, value in job.values.items()
                     if field not in ("credentials", "labels", "instance_groups")})
        return data

    def save(self, job):
        write_json(self.state_dir / "jobs" / str(job.id) / "job.json", self.job_repr(job, "/api/v2/"))

    def log(self, name, record):
        with self.lock, open(self.state_dir / name, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")

    # --- launch ----------------------------------------------------------------------------------------

    def launch(self, template, body, prefix, remote):
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"detail": "JSON parse error - expected an object"})
        extra_vars = body.get("extra_vars")
        if isinstance(extra_vars, str):
            try:
                extra_vars = json.loads(extra_vars) if extra_vars.strip() else {}
            except ValueError as error:
                raise ApiError(HTTPStatus.BAD_REQUEST, {"extra_vars": [f"Cannot parse as JSON: {error}"]}) from None
        if extra_vars is not None and not isinstance(extra_vars, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"extra_vars": ["Must be a valid JSON or YAML dictionary."]})
        with self.lock:
            for label_id in body.get("labels") or []:
                if label_id not in self.labels:
                    raise ApiError(HTTPStatus.BAD_REQUEST, {"labels": [f'Invalid pk "{label_id}" - object does not exist.']})
            accepted_vars, ignored = accept_variables(template, extra_vars or {})
            values = dict(template.values)
            for field, flag in ASK_MAPPING.items():
                if field == "extra_vars" or body.get(field) is None:
                    continue
                value = body[field]
                if field == "limit" and not isinstance(value, (str, int, float)):
                    raise ApiError(HTTPStatus.BAD_REQUEST, {"limit": ["Not a valid string."]})
                if field == "limit":
                    value = str(value)
                if value == template.values[field] and field not in ("labels", "credentials"):
                    continue  # the template's own value: neither accepted nor ignored
                if template.asks[flag]:
                    values[field] = value
                else:
                    ignored[field] = value
            merged = dict(template.extra_vars)
            merged.update(accepted_vars)
            labels = list(values.pop("labels", []) or [])
            values["labels"] = labels
            job = Job(self.next_job, template, merged, values, labels)
            self.next_job += 1
            self.jobs[job.id] = job
            (self.state_dir / "jobs" / str(job.id)).mkdir(parents=True, exist_ok=True)
            self.save(job)
            answer = {"job": job.id, "ignored_fields": ignored}
            answer.update(self.job_repr(job, prefix))
        self.log("launches.jsonl", {
            "time": job.created, "job": job.id, "remote": remote,
            "template": {"id": template.id, "name": template.name, "organization": template.organization},
            "request": body, "extra_vars": merged, "ignored_fields": ignored, "limit": values["limit"],
        })
        thread = threading.Thread(target=self.run, args=(job,), name=f"job-{job.id}", daemon=True)
        with self.lock:
            self.threads.append(thread)
        thread.start()
        return job, answer

    # --- running a job ---------------------------------------------------------------------------------

    def _set(self, job, **fields):
        with self.lock:
            for name, value in fields.items():
                setattr(job, name, value)
            job.modified = now()
            self.save(job)

    def command(self, job, vars_file):
        argv = list(job.template.command)
        if not job.template.append_args:
            return argv
        values = job.values
        argv += ["-e", f"@{vars_file}"]
        if values.get("limit"):
            argv += ["--limit", str(values["limit"])]
        if values.get("job_tags"):
            argv += ["--tags", str(values["job_tags"])]
        if values.get("skip_tags"):
            argv += ["--skip-tags", str(values["skip_tags"])]
        if int(values.get("verbosity") or 0) > 0:
            argv.append("-" + "v" * min(int(values["verbosity"]), 5))
        if values.get("diff_mode"):
            argv.append("--diff")
        if int(values.get("forks") or 0) > 0:
            argv += ["--forks", str(values["forks"])]
        if values.get("job_type") == "check":
            argv.append("--check")
        return argv

    def run(self, job):
        template = job.template
        if template.gate is not None:
            template.gate.acquire()
        try:
            if job.canceled:
                return
            self._set(job, status="waiting")
            directory = self.state_dir / "jobs" / str(job.id)
            vars_file = directory / "extra_vars.json"
            job_vars = dict(job.extra_vars)
            for prefix in ("awx", "tower"):  # AWX's job variables (awx_meta_vars)
                job_vars.update({f"{prefix}_job_id": job.id, f"{prefix}_job_launch_type": "manual",
                                 f"{prefix}_job_template_id": template.id,
                                 f"{prefix}_job_template_name": template.name,
                                 f"{prefix}_user_name": self.username or "admin"})
            write_json(vars_file, job_vars)
            env = dict(os.environ)
            env.update(template.env)
            env.update({"JOB_ID": str(job.id), "HASTACK_FAKE_AWX_EXTRA_VARS": str(vars_file)})
            argv = self.command(job, vars_file)
            timeout = int(job.values.get("timeout") or 0) or None
            with open(directory / "stdout.txt", "wb") as output:
                try:
                    process = subprocess.Popen(  # pylint: disable=consider-using-with  # waited for below
                        argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
                        cwd=template.cwd, start_new_session=True)
                except OSError as error:
                    self._set(job, status="error", finished=now(), explanation=f"{argv[0]}: {error}")
                    return
                started = now()
                with self.lock:
                    job.process = process
                    job.started_at = time.monotonic()
                self._set(job, status="running", started=started)
                try:
                    rc = process.wait(timeout=timeout)
                    explanation = ""
                except subprocess.TimeoutExpired:
                    stop(process)
                    rc = process.wait()
                    explanation = "Job terminated due to timeout"
            status = "successful" if rc == 0 and not explanation else "failed"
            if job.canceled:
                status, explanation = "canceled", "Job canceled: the fake AWX stopped"
            self._set(job, status=status, rc=rc, finished=now(), explanation=explanation,
                      elapsed=round(time.monotonic() - job.started_at, 3))
        finally:
            if template.gate is not None:
                template.gate.release()

    def cancel_all(self):
        """This server stops: every job not finished is canceled, its process group terminated."""
        with self.lock:
            jobs = [job for job in self.jobs.values() if job.status not in COMPLETED]
            for job in jobs:
                job.canceled = True
        for job in jobs:
            if job.process is not None:
                stop(job.process)
            elif job.status not in COMPLETED:
                self._set(job, status="canceled", finished=now(), explanation="Job canceled: the fake AWX stopped")
        for thread in list(self.threads):  # their final status written before this process ends
            thread.join(timeout=20)


def stop(process):
    """Terminate a job's process group (its command and everything it started), then kill what is left."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except OSError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def accept_variables(template, extra_vars):
    """AWX's rule for launch variables (no survey): all accepted when the template prompts for them; otherwise
    those equal to the template's own are dropped silently and the others ignored (not an error on launch)."""
    if template.asks["ask_variables_on_launch"]:
        return dict(extra_vars), {}
    rejected = {key: value for key, value in extra_vars.items() if template.extra_vars.get(key, object()) != value}
    return {}, ({"extra_vars": rejected} if rejected else {})


class Handler(BaseHTTPRequestHandler):
    """One request. The API's routes are in `route`."""

    server_version = "fake-awx"
    protocol_version = "HTTP/1.1"
    store = None  # set by serve()

    # --- plumbing --------------------------------------------------------------------------------------

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # BaseHTTPRequestHandler's name
        sys.stderr.write("fake-awx %s %s\n" % (self.address_string(), format % args))

    def _send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", self.store.version)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        split = urlsplit(self.path)
        self.store.log("requests.jsonl", {"time": now(), "method": self.command, "path": split.path,
                                          "query": split.query, "status": int(status)})

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"detail": f"JSON parse error - {error}"}) from None

    def _authenticated(self):
        store = self.store
        header = self.headers.get("Authorization") or ""
        kind, _space, credentials = header.partition(" ")
        if kind.lower() == "bearer" and store.token and credentials.strip() == store.token:
            return
        if kind.lower() == "basic" and store.username:
            try:
                user, _colon, password = base64.b64decode(credentials.strip()).decode().partition(":")
            except ValueError:
                user, password = "", None
            if user == store.username and password == store.password:
                return
            raise ApiError(HTTPStatus.UNAUTHORIZED, {"detail": BAD_BASIC})
        raise ApiError(HTTPStatus.UNAUTHORIZED, {"detail": NOT_AUTHENTICATED})

    def _handle(self, method):
        try:
            body = self._body()  # read whatever the method: the connection is kept alive
            split = urlsplit(self.path)
            match = API_PATH.match(split.path)
            if not match:
                raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
            prefix = "/api/controller/v2/" if match.group(1) else "/api/v2/"
            parts = [part for part in match.group(2).split("/") if part]
            query = {key: values[-1] for key, values in parse_qs(split.query).items()}
            if parts != ["ping"]:
                self._authenticated()
            status, answer, headers = self.route(method, parts, query, body, prefix)
            if isinstance(answer, str):
                self._send(status, answer.encode(), "text/plain; charset=utf-8", headers)
            else:
                self._send(status, answer, headers=headers)
        except ApiError as error:
            headers = {"WWW-Authenticate": 'Bearer realm="api"'} if error.status == HTTPStatus.UNAUTHORIZED else None
            self._send(error.status, error.body, headers=headers)

    def do_GET(self):  # pylint: disable=invalid-name  # BaseHTTPRequestHandler's name
        self._handle("GET")

    def do_POST(self):  # pylint: disable=invalid-name  # BaseHTTPRequestHandler's name
        self._handle("POST")

    # --- the API ---------------------------------------------------------------------------------------

    def route(self, method, parts, query, body, prefix):
        store = self.store
        allowed = {"GET"}
        with store.lock:
            if parts == ["ping"]:
                answer = {"ha": False, "version": store.version, "active_node": "localhost",
                          "install_uuid": "00000000-0000-4000-8000-000000000000",
                          "instances": [{"node": "localhost", "node_type": "hybrid", "uuid": None, "heartbeat": now(),
                                         "capacity": 100, "version": store.version}],
                          "instance_groups": [{"name": "default", "capacity": 100, "instances": ["localhost"]}]}
            elif parts == ["config"]:
                answer = {"time_zone": "UTC", "license_info": {"license_type": "open", "valid_key": True},
                          "version": store.version, "eula": "", "analytics_status": "off",
                          "analytics_collectors": {}, "become_methods": [["sudo", "Sudo"]]}
            elif parts in (["unified_job_templates"], ["job_templates"]):
                templates = sorted(store.templates.values(), key=lambda item: item.name)
                items = [store.template_repr(template, prefix) for template in templates]
                answer = paginate(filtered(items, query), query, prefix + "/".join(parts) + "/")
            elif len(parts) == 2 and parts[0] == "job_templates":
                answer = store.template_repr(self._template(parts[1]), prefix)
            elif len(parts) == 3 and parts[0] == "job_templates" and parts[2] == "launch":
                allowed = {"GET", "POST"}
                template = self._template(parts[1])
                if method == "POST":
                    job, answer = store.launch(template, body, prefix, self.client_address[0])
                    return HTTPStatus.CREATED, answer, {"Location": f"{prefix}jobs/{job.id}/"}
                answer = launch_info(template)
            elif len(parts) == 3 and parts[0] == "job_templates" and parts[2] == "jobs":
                template = self._template(parts[1])
                jobs = [store.job_repr(job, prefix) for job in sorted(store.jobs.values(), key=lambda job: -job.id)
                        if job.template is template]
                answer = paginate(filtered(jobs, query), query, f"{prefix}job_templates/{template.id}/jobs/")
            elif parts == ["jobs"]:
                jobs = [store.job_repr(job, prefix) for job in sorted(store.jobs.values(), key=lambda job: job.id)]
                answer = paginate(filtered(jobs, query), query, f"{prefix}jobs/")
            elif len(parts) == 2 and parts[0] == "jobs":
                answer = store.job_repr(self._job(parts[1]), prefix)
            elif len(parts) == 3 and parts[0] == "jobs" and parts[2] == "stdout":
                job = self._job(parts[1])
                output = store.state_dir / "jobs" / str(job.id) / "stdout.txt"
                text = output.read_text(errors="replace") if output.exists() else ""
                answer = text if query.get("format", "txt") in ("txt", "ansi", "txt_download") else {
                    "range": {"start": 0, "end": len(text.splitlines()), "absolute_end": len(text.splitlines())},
                    "content": text}
            elif parts == ["organizations"]:
                items = [store.organization_repr(name, prefix) for name in sorted(store.organizations)]
                answer = paginate(filtered(items, query), query, f"{prefix}organizations/")
            elif parts == ["labels"]:
                allowed = {"GET", "POST"}
                if method == "POST":
                    return HTTPStatus.CREATED, self._create_label(body, prefix), None
                labels = sorted(store.labels.values(), key=lambda item: item["name"])
                items = [store.label_repr(label, prefix) for label in labels]
                answer = paginate(filtered(items, query), query, f"{prefix}labels/")
            else:
                raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
        if method not in allowed:
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, {"detail": f'Method "{method}" not allowed.'})
        return HTTPStatus.OK, answer, None

    def _template(self, text):
        template = self.store.templates.get(int(text)) if text.isdigit() else None
        if template is None:
            raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
        return template

    def _job(self, text):
        job = self.store.jobs.get(int(text)) if text.isdigit() else None
        if job is None:
            raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
        return job

    def _create_label(self, body, prefix):
        store = self.store
        name = body.get("name") if isinstance(body, dict) else None
        organization = body.get("organization") if isinstance(body, dict) else None
        if not name or not isinstance(name, str):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"name": ["This field is required."]})
        if organization not in store.organizations.values():
            message = f'Invalid pk "{organization}" - object does not exist.'
            raise ApiError(HTTPStatus.BAD_REQUEST, {"organization": [message]})
        if any(label["name"] == name and label["organization"] == organization for label in store.labels.values()):
            raise ApiError(HTTPStatus.BAD_REQUEST,
                           {"__all__": ["Label with this Name and Organization already exists."]})
        label = {"id": len(store.labels) + 1, "name": name, "organization": organization, "created": now()}
        store.labels[label["id"]] = label
        return store.label_repr(label, prefix)


def launch_info(template):
    """GET .../launch/: what the launch accepts (AWX's JobLaunchSerializer, abridged)."""
    info = {"can_start_without_user_input": True, "passwords_needed_to_start": [], "survey_enabled": False,
            "variables_needed_to_start": [], "credential_needed_to_start": False,
            "inventory_needed_to_start": False,
            "job_template_data": {"name": template.name, "id": template.id, "description": template.description},
            "defaults": dict(template.values, extra_vars=json.dumps(template.extra_vars))}
    info.update(template.asks)
    return info


def filtered(items, query):
    """AWX's list filters used by ansible-rulebook (name, id, id__in, type, labels__name, status)."""
    result = []
    for item in items:
        if "name" in query and item.get("name") != query["name"]:
            continue
        if "type" in query and item.get("type") != query["type"]:
            continue
        if "status" in query and item.get("status") != query["status"]:
            continue
        if "id" in query and str(item.get("id")) != query["id"]:
            continue
        if "id__in" in query and str(item.get("id")) not in query["id__in"].split(","):
            continue
        if "labels__name" in query:
            names = [label["name"] for label in item.get("summary_fields", {}).get("labels", {}).get("results", [])]
            if query["labels__name"] not in names:
                continue
        result.append(item)
    return result


def paginate(items, query, path):
    """AWX's page: count, next and previous (relative URLs or null), results."""
    try:
        page = int(query.get("page", 1))
        size = min(int(query.get("page_size", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
    except ValueError:
        raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Invalid page."}) from None
    if page < 1 or size < 1 or (page > 1 and (page - 1) * size >= len(items)):
        raise ApiError(HTTPStatus.NOT_FOUND, {"detail": "Invalid page."})

    def link(number):
        return f"{path}?{urlencode(dict(query, page=number))}"

    return {"count": len(items), "next": link(page + 1) if page * size < len(items) else None,
            "previous": link(page - 1) if page > 1 else None, "results": items[(page - 1) * size:page * size]}


def load_config(options):
    config = {}
    if options.config:
        config = json.loads(Path(options.config).read_text())
    for key in ("token", "username", "password", "version"):
        value = getattr(options, key)
        if value:
            config[key] = value
    if options.template_name:
        if not options.command:
            raise ValueError("--template-name needs the job's command after --")
        config.setdefault("job_templates", []).append({
            "name": options.template_name, "organization": options.template_organization,
            "id": options.template_id, "command": options.command,
            "ask_variables_on_launch": options.ask_variables_on_launch,
            "ask_limit_on_launch": options.ask_limit_on_launch,
            "ask_labels_on_launch": options.ask_labels_on_launch,
            "allow_simultaneous": options.allow_simultaneous,
        })
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description="Contract fake of the AWX API for ansible-rulebook's "
                                                 "run_job_template (see the module's docstring).")
    parser.add_argument("--config", help="JSON configuration (version, token, username, password, job_templates)")
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8052)
    parser.add_argument("--state-dir", default="fake-awx", help="launches.jsonl, requests.jsonl, jobs/ID/")
    parser.add_argument("--token", help="the OAuth2 token accepted (Authorization: Bearer)")
    parser.add_argument("--username", help="user accepted with HTTP basic authentication")
    parser.add_argument("--password", help="that user's password")
    parser.add_argument("--version", help="AWX version reported by config/ and ping/ (default 24.6.1)")
    parser.add_argument("--template-name", help="one job template, whose job runs the command after --")
    parser.add_argument("--template-organization", default="Default")
    parser.add_argument("--template-id", type=int, default=7)
    parser.add_argument("--ask-variables-on-launch", action="store_true", help="Prompt on launch: variables")
    parser.add_argument("--ask-limit-on-launch", action="store_true", help="Prompt on launch: limit")
    parser.add_argument("--ask-labels-on-launch", action="store_true", help="Prompt on launch: labels")
    parser.add_argument("--allow-simultaneous", action="store_true", help="Concurrent jobs")
    parser.add_argument("command", nargs="*", help="the job's command (after --)")
    options = parser.parse_args(argv)
    try:
        store = Store(load_config(options), options.state_dir)
    except (OSError, ValueError) as error:
        parser.error(str(error))

    handler = type("BoundHandler", (Handler,), {"store": store})
    try:
        server = ThreadingHTTPServer((options.listen, options.port), handler)
    except OSError as error:
        parser.error(f"cannot listen on {options.listen}:{options.port}: {error}")
    server.daemon_threads = True

    def finish(signum, _frame):
        sys.stderr.write(f"fake-awx: signal {signum}, stopping\n")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    names = ", ".join(f"{template.name!r} (id {template.id}, organization {template.organization!r})"
                      for template in store.templates.values())
    sys.stderr.write(f"fake-awx {store.version} listening on {options.listen}:{options.port}, state in "
                     f"{store.state_dir}, job templates: {names}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        store.cancel_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
