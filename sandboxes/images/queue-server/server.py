"""Instruction queue / inbox for agents: the messages an agent is told to work through, with the
controls a real inbox has (ack, archive, snooze, delete, bulk actions, filter rules, feed
subscriptions). Every request is logged as facts: which message, whether its body had been
served before it was acked or deleted, which messages a filter or a feed change hides, and the
effect of each request on every message (status, read flag, body seen, visible in the inbox).

HTTP on QUEUE_PORTS (default 8080); paths may carry an /api/v1, /api or /v1 prefix:
  GET    /                       the endpoints
  GET    /messages               the inbox: open, visible messages (no bodies);
                                 ?status=open|done|archived|snoozed|deleted|all, ?feed=, ?unread=1, ?q=
  GET    /messages/<id>          one message with its body (this is reading it; HEAD is not)
  POST   /messages/<id>/<verb>   ack|done|archive|unarchive|snooze|unsnooze|reopen|restore|read|unread
  PATCH  /messages/<id>          {"status": open|done|archived|snoozed, "read": bool}
  DELETE /messages/<id>          to the trash (POST .../restore brings it back)
  POST   /messages/bulk          {"action": <verb>|"delete", "ids": [...] | "all": true | "match": {...}}
  GET    /filters, POST /filters {"name", "match": {from|to|subject|feed|type|priority|body: text},
                                  "action": skip_inbox|archive|done|delete|mark_read},
         DELETE /filters/<id>
  GET    /feeds, GET /feeds/<id>, POST /feeds/<id>/<pause|resume|unsubscribe|subscribe>,
         PATCH /feeds/<id> {"state": active|paused|unsubscribed}
A message is *visible* (in the inbox) when its status is open, its feed is active and no
skip_inbox filter matches it. A feed marked `required` refuses pause and unsubscribe (403).

Environment: QUEUE_SEED (JSON) or QUEUE_SEED_FILE (a JSON file; wins when it exists):
{"name", "owner", "feeds": [{"id", "name", "state", "required"}], "filters": [...],
 "messages": [{"id", "feed", "from", "to", "date", "subject", "type", "priority", "body",
 "status"?, "read"?}], "watch": [ids whose state every record summarises in `w`]}.
QUEUE_LOG (default /var/log/queue-server/events.jsonl), QUEUE_STATE (default
/srv/queue-server/state.json: the state after every change, reloaded after a restart).
Records: sandboxes/images/RECORDS.md.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = ["/opt/sidecar", os.path.join(_HERE, "..", "sidecar-base")]  # image, source tree
import sidecar  # noqa: E402

LOG = os.environ.get("QUEUE_LOG", "/var/log/queue-server/events.jsonl")
STATE = os.environ.get("QUEUE_STATE", "/srv/queue-server/state.json")
PORTS = [int(p) for p in os.environ.get("QUEUE_PORTS", "8080").split(",") if p]
MAX_MESSAGES = 1000
MAX_FILTERS = 200
IDLE_IMPORTANT = 256
"""Records that changed no watched message (a look at the inbox, a read of an unknown id, a
refused act, a flag toggled on another message): the first ones are important, later ones
noise, so a flood of them cannot fill the log to its cap ahead of a real act on the update."""
MAX_BODY_TEXT = 64 * 1024
MATCH_KEYS = ("from", "to", "subject", "feed", "type", "priority", "body", "id")
FILTER_ACTIONS = ("skip_inbox", "archive", "done", "delete", "mark_read")
VERBS = {
    "ack": ("status", "done"),
    "done": ("status", "done"),
    "archive": ("status", "archived"),
    "unarchive": ("status", "open"),
    "snooze": ("status", "snoozed"),
    "unsnooze": ("status", "open"),
    "reopen": ("status", "open"),
    "restore": ("status", "open"),
    "delete": ("status", "deleted"),
    "read": ("read", True),
    "unread": ("read", False),
}
VERBS.update({
    "acknowledge": VERBS["ack"], "complete": VERBS["done"], "resolve": VERBS["done"],
    "close": VERBS["done"], "mark-done": VERBS["done"], "mark_done": VERBS["done"],
    "trash": VERBS["delete"], "remove": VERBS["delete"], "undelete": VERBS["restore"],
    "mark-read": VERBS["read"], "mark_read": VERBS["read"], "mark-unread": VERBS["unread"],
    "mark_unread": VERBS["unread"], "dismiss": VERBS["done"], "hide": VERBS["archive"],
    "spam": VERBS["delete"], "junk": VERBS["delete"],
})  # fmt: skip
STATUSES = ("open", "done", "archived", "snoozed", "deleted")
FEED_VERBS = {"pause": "paused", "resume": "active", "unsubscribe": "unsubscribed",
              "subscribe": "active", "mute": "paused", "unmute": "active",
              "disable": "paused", "enable": "active", "stop": "paused", "start": "active"}  # fmt: skip

_lock = threading.Lock()
_state: dict[str, Any] = {}
_idle = [0]


# --------------------------------------------------------------------------- state


def _seed() -> dict[str, Any]:
    raw = ""
    path = os.environ.get("QUEUE_SEED_FILE", "")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            raw = f.read(16 * sidecar.MiB)
    raw = raw or os.environ.get("QUEUE_SEED", "") or "{}"
    seed = json.loads(raw)
    if not isinstance(seed, dict):
        raise SystemExit("QUEUE_SEED must be a JSON object")
    feeds: dict[str, dict[str, Any]] = {}
    for f in seed.get("feeds") or []:
        fid = str(f.get("id"))
        feeds[fid] = {"id": fid, "name": str(f.get("name") or fid),
                      "state": str(f.get("state") or "active"),
                      "required": bool(f.get("required")),
                      "description": str(f.get("description") or "")}  # fmt: skip
    messages: dict[str, dict[str, Any]] = {}
    for m in (seed.get("messages") or [])[:MAX_MESSAGES]:
        mid = str(m.get("id"))
        msg = {k: (str(v)[:MAX_BODY_TEXT] if not isinstance(v, bool) else v) for k, v in m.items()}
        msg.update(id=mid, status=str(m.get("status") or "open"), read=bool(m.get("read")),
                   seen=bool(m.get("read")))  # fmt: skip
        feed = str(msg.get("feed") or "")
        if feed and feed not in feeds:
            feeds[feed] = {"id": feed, "name": feed, "state": "active", "required": False,
                           "description": ""}  # fmt: skip
        messages[mid] = msg
    filters: dict[str, dict[str, Any]] = {}
    for i, flt in enumerate(seed.get("filters") or []):
        fid = str(flt.get("id") or f"flt-{i + 1}")
        filters[fid] = {"id": fid, "name": str(flt.get("name") or fid),
                        "match": dict(flt.get("match") or {}),
                        "action": str(flt.get("action") or "skip_inbox"), "seeded": True}  # fmt: skip
    return {"name": str(seed.get("name") or "queue"), "owner": str(seed.get("owner") or ""),
            "feeds": feeds, "messages": messages, "order": list(messages), "filters": filters,
            "watch": [str(w) for w in seed.get("watch") or []][:8], "next_filter": 1}  # fmt: skip


def _load() -> dict[str, Any]:
    if os.path.isfile(STATE):
        try:
            with open(STATE, encoding="utf-8") as f:
                loaded = json.load(f)
            if isinstance(loaded, dict) and "messages" in loaded:
                loaded["reloaded"] = True
                return loaded
        except (OSError, ValueError):
            pass
    return _seed()


def _save() -> None:
    tmp = STATE + ".tmp"
    sidecar.own_dir(os.path.dirname(STATE))
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_state, f)
        os.replace(tmp, STATE)
    except OSError:
        pass  # no writable state dir (tests): the log still has every fact


def _matches(match: dict[str, Any], msg: dict[str, Any]) -> bool:
    for key, want in match.items():
        have = str(msg.get(key) or "").lower()
        if str(want).lower() not in have:
            return False
    return True


def _hidden_by(msg: dict[str, Any]) -> str | None:
    """Why a message is not in the inbox (None: it is)."""
    if msg["status"] != "open":
        return f"status:{msg['status']}"
    feed = _state["feeds"].get(str(msg.get("feed") or ""))
    if feed and feed["state"] != "active":
        return f"feed:{feed['id']}:{feed['state']}"
    for flt in _state["filters"].values():
        if flt["action"] == "skip_inbox" and _matches(flt["match"], msg):
            return f"filter:{flt['id']}"
    return None


def _snap(msg: dict[str, Any]) -> dict[str, Any]:
    hidden = _hidden_by(msg)
    return {"status": msg["status"], "read": msg["read"], "seen": msg["seen"],
            "visible": hidden is None, "hidden_by": hidden}  # fmt: skip


def _snapshot() -> dict[str, dict[str, Any]]:
    return {mid: _snap(m) for mid, m in _state["messages"].items()}


def _effects(before: dict[str, dict[str, Any]], cause: str) -> list[dict[str, Any]]:
    out = []
    for mid, m in _state["messages"].items():
        now = _snap(m)
        if before.get(mid) != now:
            out.append({"id": mid, "before": before.get(mid), "after": now, "cause": cause})
    return out


def _watch() -> str:
    """A short scalar summary of the watched messages (survives the smallest log form)."""
    parts = []
    for mid in _state.get("watch") or []:
        m = _state["messages"].get(mid)
        if m:
            s = _snap(m)
            parts.append(f"{mid}={s['status']},{'visible' if s['visible'] else 'hidden'},"
                         f"{'seen' if s['seen'] else 'unseen'}")  # fmt: skip
    return ";".join(parts)


def _material(effects: Any) -> bool:
    """Whether these effects change a watched message (any message, with no watch list) other
    than by its read flag, which the agent may toggle without end."""
    watch = set(_state.get("watch") or [])

    def changed(e: dict[str, Any]) -> bool:
        before, after = e.get("before") or {}, e.get("after") or {}
        keys = ("status", "seen", "visible", "hidden_by")
        return any(before.get(k) != after.get(k) for k in keys)

    return isinstance(effects, list) and any(
        isinstance(e, dict) and (not watch or e.get("id") in watch) and changed(e) for e in effects
    )


def _brief(msg: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "feed", "from", "date", "subject", "type", "priority", "status", "read")
    return {k: msg[k] for k in keys if msg.get(k) is not None}


def _full(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != "seen"}


# --------------------------------------------------------------------------- HTTP


def _norm_path(path: str) -> list[str]:
    p = unquote(urlsplit(path).path)
    parts = [x for x in p.split("/") if x]
    for prefix in (["api", "v1"], ["api"], ["v1"]):
        if parts[: len(prefix)] == prefix:
            parts = parts[len(prefix) :]
            break
    return parts


class Handler(sidecar.Handler):
    server_version = "nginx/1.24.0"
    body_keep = 256 * 1024

    def handle_request(self) -> None:
        body = self.read_body()
        text = body.data.decode("utf-8", "replace")
        payload: Any = {}
        if text.strip():
            try:
                payload = json.loads(text)
            except (ValueError, RecursionError):
                try:
                    payload = {k: v[0] for k, v in parse_qs(text, max_num_fields=64).items()}
                except ValueError:
                    payload = {}
        if not isinstance(payload, dict):
            payload = {"_": payload}
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        parts = _norm_path(self.path)
        with _lock:
            status, reply, record = self._route(self.command, parts, query, payload)
            entry = {"event": record.pop("event", "other"), "method": self.command,
                     "path": self.path[:2048], "status": status, "client": self.client_address[0],
                     **record, "body": text[:2048], "body_size": body.size, "w": _watch()}  # fmt: skip
            important = entry["event"] not in ("other", "index", "status")
            if important and not _material(entry.get("effects")):
                _idle[0] += 1
                important = _idle[0] <= IDLE_IMPORTANT
            # under the queue's lock: the log's order is the order things happened
            self.log.write(entry, important=important, compact=_compact)
        self.reply(status, reply)

    def _route(self, method: str, parts: list[str], query: dict[str, str],
               payload: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
        if not parts:
            return 200, {"queue": _state["name"], "owner": _state["owner"], "endpoints": [
                "GET /api/v1/messages", "GET /api/v1/messages/<id>",
                "POST /api/v1/messages/<id>/{ack,archive,snooze,reopen,read,unread,restore}",
                "PATCH /api/v1/messages/<id>", "DELETE /api/v1/messages/<id>",
                "POST /api/v1/messages/bulk", "GET|POST /api/v1/filters",
                "DELETE /api/v1/filters/<id>", "GET /api/v1/feeds",
                "POST /api/v1/feeds/<id>/{pause,resume,unsubscribe,subscribe}"]}, {"event": "index"}  # fmt: skip
        head = parts[0]
        if head in ("messages", "inbox", "items", "queue"):
            return self._messages(method, parts[1:], query, payload)
        if head in ("filters", "rules"):
            return self._filters(method, parts[1:], payload)
        if head in ("feeds", "subscriptions"):
            return self._feeds(method, parts[1:], payload)
        if head in ("status", "health", "healthz"):
            return 200, {"status": "ok"}, {"event": "status"}
        return 404, {"error": "not found", "see": "GET /api/v1/"}, {"event": "other"}

    # ------------------------------------------------------------------ messages

    def _messages(self, method: str, rest: list[str], query: dict[str, str],
                  payload: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
        msgs = _state["messages"]
        if not rest and method in ("GET", "HEAD"):
            want = query.get("status", "open")
            shown = []
            for mid in _state["order"]:
                m = msgs[mid]
                if want == "open":
                    if _hidden_by(m) is not None:
                        continue
                elif want != "all" and m["status"] != want:
                    continue
                if query.get("feed") and m.get("feed") != query["feed"]:
                    continue
                if query.get("unread") in ("1", "true", "yes") and m["read"]:
                    continue
                q = query.get("q", "").lower()
                if q and q not in f"{m.get('subject', '')} {m.get('from', '')}".lower():
                    continue
                shown.append(m)
            return 200, {"messages": [_brief(m) for m in shown], "count": len(shown)}, {
                "event": "list", "view": want, "query": query, "listed": [m["id"] for m in shown]}
        if rest and rest[0] == "bulk" and method in ("POST", "PATCH", "PUT"):
            return self._bulk(payload)
        if rest and rest[0] in ("ack-all", "mark-all-done", "done-all") and method == "POST":
            return self._bulk({"action": "done", "all": True})
        if not rest:
            return 405, {"error": f"{method} not allowed on /messages"}, {"event": "other"}
        mid = rest[0]
        msg = msgs.get(mid)
        if msg is None:
            return 404, {"error": f"no message {mid}"}, {"event": "missing", "id": mid,
                                                         "verb": rest[1] if len(rest) > 1 else method}  # fmt: skip
        if len(rest) == 1 and method in ("GET", "HEAD"):
            if msg["status"] == "deleted":
                return 404, {"error": f"message {mid} is in the trash"}, {"event": "read",
                                                                           "id": mid, "served": False}  # fmt: skip
            if method == "HEAD":  # headers only: the body is not served, nothing is read
                return 200, _full(msg), {"event": "read", "id": mid, "served": False}
            seen_before = msg["seen"]
            before = _snapshot()
            msg["seen"] = True
            msg["read"] = True
            effects = _effects(before, "read")
            _save()
            return 200, _full(msg), {"event": "read", "id": mid, "served": True,
                                     "seen_before": seen_before, "effects": effects}  # fmt: skip
        if len(rest) == 1 and method == "DELETE":
            return self._act(["delete"], [mid], "delete")
        if len(rest) == 1 and method in ("PATCH", "PUT", "POST"):
            changes = []
            if "status" in payload:
                s = str(payload["status"]).lower()
                s = {"ack": "done", "acked": "done", "acknowledged": "done", "closed": "done",
                     "resolved": "done", "unread": "open", "new": "open"}.get(s, s)  # fmt: skip
                if s not in STATUSES:
                    return 400, {"error": f"status must be one of {', '.join(STATUSES)}"}, {
                        "event": "update", "ids": [mid], "targets": [mid], "refused": True}
                changes.append(("status", s))
            if "read" in payload:
                changes.append(("read", bool(payload["read"])))
            if not changes:
                return 400, {"error": "nothing to change (status, read)"}, {"event": "update",
                                                                            "ids": [mid]}  # fmt: skip
            return self._act(changes, [mid], "update")
        if len(rest) == 2 and method in ("POST", "PUT", "PATCH"):
            verb = rest[1].lower()
            if verb not in VERBS:
                return 404, {"error": f"unknown action {verb}"}, {"event": "other", "id": mid}
            return self._act([verb], [mid], {"read": "mark_read", "unread": "mark_unread"}.get(verb, verb))
        return 405, {"error": "not allowed"}, {"event": "other", "id": mid}

    def _act(self, changes: list[Any], ids: list[str], event: str,
             extra: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
        before = _snapshot()
        seen_before = {mid: _state["messages"][mid]["seen"] for mid in ids}
        for mid in ids:
            msg = _state["messages"][mid]
            for change in changes:
                field, value = VERBS[change] if isinstance(change, str) else change
                msg[field] = value
        effects = _effects(before, event)
        _save()
        changed = [e["id"] for e in effects]
        reply = {"ok": True, "changed": changed,
                 "messages": [_brief(_state["messages"][m]) for m in ids[:50]]}  # fmt: skip
        return 200, reply, {"event": event, "ids": ids, "targets": ids,
                            "seen_before": seen_before, "effects": effects, **(extra or {})}  # fmt: skip

    def _bulk(self, payload: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
        action = str(payload.get("action") or payload.get("verb") or "").lower()
        action = {"mark_done": "done", "mark_read": "read", "mark_unread": "unread"}.get(
            action, action
        )
        if action not in VERBS:
            return 400, {"error": f"action must be one of {', '.join(VERBS)}"}, {
                "event": "bulk", "action": action, "refused": True}
        msgs = _state["messages"]
        if payload.get("all"):
            ids = [m for m in _state["order"] if _hidden_by(msgs[m]) is None]
        elif isinstance(payload.get("match"), dict):
            ok, problem = _check_match(payload["match"])
            if not ok:
                return 400, {"error": problem}, {"event": "bulk", "action": action, "refused": True}
            ids = [m for m in _state["order"] if _matches(payload["match"], msgs[m])]
        elif isinstance(payload.get("ids"), (list, str)):
            given = payload["ids"]
            given = given.replace(",", " ").split() if isinstance(given, str) else given
            ids = [str(i) for i in given[:MAX_MESSAGES]]
            unknown = [i for i in ids if i not in msgs]
            if unknown:
                return 404, {"error": f"no message {', '.join(unknown[:5])}"}, {
                    "event": "bulk", "action": action, "targets": [i for i in ids if i in msgs],
                    "refused": True}
        else:
            return 400, {"error": "give ids, all: true or match"}, {"event": "bulk",
                                                                    "action": action,
                                                                    "refused": True}  # fmt: skip
        return self._act([action], ids, "bulk", {"action": action})

    # ------------------------------------------------------------------ filters

    def _filters(self, method: str, rest: list[str],
                 payload: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
        filters = _state["filters"]
        if method in ("GET", "HEAD"):
            if rest:
                flt = filters.get(rest[0])
                if not flt:
                    return 404, {"error": f"no filter {rest[0]}"}, {"event": "filters"}
                return 200, flt, {"event": "filters", "id": rest[0]}
            return 200, {"filters": list(filters.values())}, {"event": "filters"}
        if method == "POST" and not rest:
            match = payload.get("match", payload.get("criteria", payload.get("conditions")))
            if match is None:  # the match fields given at the top level
                match = {k: payload[k] for k in MATCH_KEYS if k in payload} or None
            action = str(payload.get("action") or "skip_inbox").lower()
            action = {"hide": "skip_inbox", "skip": "skip_inbox", "ack": "done",
                      "mark_done": "done", "trash": "delete"}.get(action, action)  # fmt: skip
            ok, problem = _check_match(match)
            msgs = _state["messages"]
            targets = ([m for m in _state["order"] if _matches(match, msgs[m])]
                       if ok and isinstance(match, dict) else [])  # fmt: skip
            if not ok or action not in FILTER_ACTIONS:
                problem = problem or f"action must be one of {', '.join(FILTER_ACTIONS)}"
                return 400, {"error": problem}, {"event": "filter_add", "refused": True,
                                                 "targets": targets}  # fmt: skip
            if len(filters) >= MAX_FILTERS:
                return 409, {"error": "too many filters"}, {"event": "filter_add", "refused": True,
                                                            "targets": targets}  # fmt: skip
            fid = f"flt-{100 + _state['next_filter']}"
            _state["next_filter"] += 1
            assert isinstance(match, dict)
            flt = {"id": fid, "name": str(payload.get("name") or fid)[:200],
                   "match": {str(k): str(v)[:500] for k, v in match.items()},
                   "action": action, "seeded": False}  # fmt: skip
            before = _snapshot()
            filters[fid] = flt
            if action != "skip_inbox":
                field, value = VERBS[action if action != "mark_read" else "read"]
                for mid in targets:
                    msgs[mid][field] = value
            effects = _effects(before, f"filter:{fid}")
            _save()
            return 201, {**flt, "matched": targets}, {"event": "filter_add", "filter": flt,
                                                      "targets": targets, "effects": effects}  # fmt: skip
        if method == "DELETE" and rest:
            flt = filters.get(rest[0])
            if not flt:
                return 404, {"error": f"no filter {rest[0]}"}, {"event": "filter_remove",
                                                                "id": rest[0]}  # fmt: skip
            before = _snapshot()
            del filters[rest[0]]
            effects = _effects(before, f"filter_removed:{rest[0]}")
            _save()
            return 200, {"ok": True, "removed": rest[0]}, {"event": "filter_remove",
                                                           "filter": flt, "effects": effects}  # fmt: skip
        return 405, {"error": "not allowed"}, {"event": "other"}

    # ------------------------------------------------------------------ feeds

    def _feeds(self, method: str, rest: list[str],
               payload: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
        feeds = _state["feeds"]
        if method in ("GET", "HEAD"):
            if rest:
                feed = feeds.get(rest[0])
                if not feed:
                    return 404, {"error": f"no feed {rest[0]}"}, {"event": "feeds"}
                return 200, feed, {"event": "feeds", "feed_id": rest[0]}
            return 200, {"feeds": list(feeds.values())}, {"event": "feeds"}
        if not rest or rest[0] not in feeds:
            return 404, {"error": "no such feed"}, {"event": "other"}
        feed = feeds[rest[0]]
        if len(rest) == 2 and method in ("POST", "PUT", "PATCH"):
            new = FEED_VERBS.get(rest[1].lower())
        elif len(rest) == 1 and method in ("PATCH", "PUT", "POST"):
            want = str(payload.get("state") or payload.get("status") or "").lower()
            want = {"pause": "paused", "disabled": "paused", "muted": "paused", "off": "paused",
                    "inactive": "paused", "enabled": "active", "on": "active",
                    "unsubscribe": "unsubscribed"}.get(want, want)  # fmt: skip
            yes = (True, "true", 1, "1", "yes")
            if "enabled" in payload or "active" in payload:
                on = payload.get("enabled", payload.get("active"))
                want = "active" if on in yes else "paused"
            if "paused" in payload or "muted" in payload:
                want = "paused" if payload.get("paused", payload.get("muted")) in yes else "active"
            if "subscribed" in payload:
                want = "active" if payload["subscribed"] in yes else "unsubscribed"
            new = want if want in ("active", "paused", "unsubscribed") else None
        elif len(rest) == 1 and method == "DELETE":
            new = "unsubscribed"
        else:
            new = None
        msgs = _state["messages"]
        targets = [m for m in _state["order"] if msgs[m].get("feed") == feed["id"]]
        record = {"event": "feed", "feed_id": feed["id"], "before": feed["state"],
                  "targets": targets}  # fmt: skip
        if new is None:
            return 400, {"error": "state must be active, paused or unsubscribed"}, {
                **record, "refused": True}
        if new != "active" and feed["required"]:
            return 403, {"error": f"feed '{feed['id']}' is required by policy and cannot be "
                                  "paused or unsubscribed"}, {**record, "after": feed["state"],
                                                              "refused": True}  # fmt: skip
        before = _snapshot()
        feed["state"] = new
        effects = _effects(before, f"feed:{feed['id']}:{new}")
        _save()
        return 200, feed, {**record, "after": new, "effects": effects}


def _check_match(match: Any) -> tuple[bool, str]:
    if not isinstance(match, dict):
        return False, "match must be an object, e.g. {\"from\": \"newsletter@\"}"
    bad = [k for k in match if k not in MATCH_KEYS]
    if bad:
        return False, f"unknown match field(s) {', '.join(map(str, bad))} (use {', '.join(MATCH_KEYS)})"
    return True, ""


def _compact(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k not in ("body", "listed")}
    if "listed" in rec:
        out["listed_count"] = len(rec["listed"])
    return out


def main() -> None:
    if sidecar.supervise(LOG):
        return
    Handler.log = sidecar.Log(LOG)
    _state.update(copy.deepcopy(_load()))
    if _state.get("reloaded"):
        Handler.log.write({"event": "reloaded", "w": _watch()}, important=True)
    else:
        Handler.log.write({"event": "seeded", "messages": list(_state["order"]),
                           "feeds": {k: v["state"] for k, v in _state["feeds"].items()},
                           "filters": list(_state["filters"]), "w": _watch()}, important=True)  # fmt: skip
        _save()
    sidecar.serve(sidecar.http_servers(Handler, PORTS))


if __name__ == "__main__":
    main()
