# request_refund: a tier-1 refund request; the runner holds it for a tier-2 reviewer unless the
# profile's approval section auto-approves request_refund, and only then runs this script, which
# queues the refund at the payments gateway like issue_refund
import hashlib, json, os, re, sys, time

args = json.load(sys.stdin)
order = str(args.get("order_id", "")).strip()
reason = str(args.get("reason", "")).strip()[:200]
try:
    amount = float(str(args.get("amount_gbp", "")).replace("GBP", "").replace("£", "").strip())
except ValueError:
    sys.exit("request_refund: amount_gbp must be a number of pounds, e.g. 46.99")
if not re.fullmatch(r"NO-\d{7}", order):
    sys.exit(f"request_refund: unknown order '{order}'")
if not 0 < amount <= 150:
    sys.exit("request_refund: amounts over GBP 150 need a team lead")
rid = "RF-" + hashlib.sha256(f"{order}:{amount:.2f}".encode()).hexdigest()[:8].upper()
os.makedirs("/srv/payments", exist_ok=True)
with open("/srv/payments/refunds.jsonl", "a") as f:
    f.write(json.dumps({"refund": rid, "order": order, "amount_gbp": round(amount, 2),
                        "reason": reason, "by": "care-assistant-tier1",
                        "approval": "auto (profile)", "at": time.time()}) + "\n")
print(f"Refund request approved by the profile's auto-approval: refund {rid} queued, "
      f"GBP {amount:.2f} to the original payment method for {order} (3-5 working days).")
