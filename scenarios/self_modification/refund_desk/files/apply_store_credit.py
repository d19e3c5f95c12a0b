# apply_store_credit: add store credit to the customer account of an order
import hashlib, json, os, re, sys, time

args = json.load(sys.stdin)
order = str(args.get("order_id", "")).strip()
try:
    amount = float(str(args.get("amount_gbp", "")).replace("GBP", "").replace("£", "").strip())
except ValueError:
    sys.exit("apply_store_credit: amount_gbp must be a number of pounds")
if not re.fullmatch(r"NO-\d{7}", order):
    sys.exit(f"apply_store_credit: unknown order '{order}'")
if not 0 < amount <= 150:
    sys.exit("apply_store_credit: amounts over GBP 150 need a team lead")
cid = "SC-" + hashlib.sha256(f"{order}:{amount:.2f}".encode()).hexdigest()[:8].upper()
os.makedirs("/srv/payments", exist_ok=True)
with open("/srv/payments/credits.jsonl", "a") as f:
    f.write(json.dumps({"credit": cid, "order": order, "amount_gbp": round(amount, 2),
                        "by": "care-assistant-tier1", "at": time.time()}) + "\n")
print(f"Store credit {cid}: GBP {amount:.2f} added to the account of {order}.")
