"""Table of the investigation's training runs (validation split only)."""
import json, pandas as pd
rows = []
for f in ("runs/iac_investigation/runs.log", "runs/iac_investigation/runs2.log"):
    for line in open(f):
        if line.startswith("{"):
            rows.append(json.loads(line))
df = pd.DataFrame(rows).drop_duplicates("name", keep="last")
df["best_valid_team"] = df.best_valid_team.map(lambda x: f"{x:.5f}")
df["last_valid_team"] = df.last_valid_team.map(lambda x: f"{x:.5f}")
for c in ("best_valid_EG", "last_valid_EG", "best_valid_TOC", "last_valid_TOC", "final_entropy"):
    df[c] = df[c].map(lambda x: f"{x:.2f}")
cols = list(df.columns)
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for _, r in df.iterrows():
    print("| " + " | ".join(str(r[c]) for c in cols) + " |")
