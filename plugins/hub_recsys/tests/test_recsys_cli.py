"""End to end through the `hub` CLI on generated interactions with a planted structure."""
import csv
import json

import pytest

pytestmark = pytest.mark.slow


def finetune(hub, planted, out, model, task, *extra):
    code, _, err = hub("finetune", model, "--task", task, "--data", planted / "train.csv", "--val", planted / "val.csv",
                       "--out", out, "--batch-size", "256", "--quiet", *extra)
    assert code == 0, err
    return json.loads((out / "hub.json").read_text())


def evaluate(hub, out, data):
    code, stdout, err = hub("evaluate", out, "--data", data, "--json")
    assert code == 0, err
    return json.loads(stdout)


def recommended(hub, out, *args):
    code, stdout, err = hub("recommend", out, *args, "--json")
    assert code == 0, err
    return [[item["item"] for item in answer["items"]] for answer in json.loads(stdout)], json.loads(stdout), err


USERS = ("--user", "u1", "--user", "u17", "--user", "u250")


def test_mf_and_two_tower_beat_popularity_and_onnx_recommends_the_same(hub, planted, tmp_path):
    runs = {"mf": ("--lr", "0.02"), "two-tower": ("--lr", "0.01", "-p", f"user_features={planted / 'users.csv'}",
                                                  "-p", f"item_features={planted / 'items.csv'}")}
    for name, extra in runs.items():
        out = tmp_path / name
        manifest = finetune(hub, planted, out, f"recsys/{name}", "retrieval", "--epochs", "8", *extra)
        test = evaluate(hub, out, planted / "test.csv")
        assert test["users"] + test["unknown_items"] == 300 and test["unknown_users"] == 0, test
        popularity = test["popularity_ndcg@10"]
        assert test["ndcg@10"] > 1.5 * popularity and test["ndcg@10"] > popularity + 0.03, (name, test)
        assert 0 < test["recall@10"] <= 1 and test["hit@10"] == test["recall@10"]  # one held-out item per user
        torch_items, answers, _ = recommended(hub, out, *USERS, "--k", "10")
        assert all(len(items) == 10 for items in torch_items) and answers[0]["source"] == "model"
        code, _, err = hub("export-towers", out) if name == "two-tower" else hub("export", out)
        assert code == 0, err
        onnx_items, answers, _ = recommended(hub, out, *USERS, "--k", "10", "--onnx")
        assert onnx_items == torch_items and answers[0]["engine"].startswith("onnx")
    assert (tmp_path / "two-tower" / "item_embeddings.npy").is_file()
    report = json.loads((tmp_path / "two-tower" / "towers.json").read_text())
    dim = manifest["backbone"]["config"]["dim"]  # the preset's (64 since issue 15's recipe)
    assert report["status"] == "ok" and report["item_matrix"]["shape"] == [200, dim + 2]  # [v, 1, b_i]


def test_recommendations_leave_out_seen_items_and_fall_back_to_popularity(hub, planted, tmp_path):
    out = tmp_path / "mf"
    finetune(hub, planted, out, "recsys/mf", "retrieval", "--epochs", "1")
    seen = {row["item"] for row in csv.DictReader(open(planted / "train.csv")) if row["user"] == "u1"}
    (items,), _, _ = recommended(hub, out, "--user", "u1", "--k", "50")
    assert len(items) == 50 and not seen & set(items)
    (with_seen,), _, _ = recommended(hub, out, "--user", "u1", "--k", "200", "--include-seen")
    assert seen <= set(with_seen)
    (cold,), answers, err = recommended(hub, out, "--user", "someone-new", "--k", "3")
    assert answers[0]["source"] == "popularity" and "'someone-new' is not in the model's training data" in err
    counts = [item["score"] for item in answers[0]["items"]]
    assert counts == sorted(counts, reverse=True)


def test_rating_prediction_and_clear_errors_for_bad_data(hub, planted, tmp_path):
    out = tmp_path / "rating"
    manifest = finetune(hub, planted, out, "recsys/mf", "rating", "--epochs", "4", "--lr", "0.01", "-p", "negatives=0")
    assert manifest["metrics"]["rmse"] < 0.95 and manifest["metrics"]["mae"] < manifest["metrics"]["rmse"]
    test = evaluate(hub, out, planted / "test.csv")
    assert test["rmse"] < 0.95
    code, stdout, err = hub("predict", out, "u1", "i5", "nobody", "i5", "--json")
    assert code == 0, err
    rows = json.loads(stdout)
    answers = [row["answer"] for row in rows]
    assert [row["input"] for row in rows] == ["u1 i5", "nobody i5"]
    assert 1 <= answers[0]["rating"] <= 5 and "note" not in answers[0] and "unknown user" in answers[1]["note"]
    code, _, err = hub("predict", out, "u1", "i5", "u2")
    assert code == 2 and "interactions inputs take 2 arguments each, got 3: 'u2' is incomplete" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\nu1,i1,4\nu2,i3,nan\n")
    code, _, err = hub("evaluate", out, "--data", bad)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == f"hub: error: {bad}:3: rating is not a finite number — field 'rating' — value 'nan'"
    code, _, err = hub("finetune", "recsys/mf", "--task", "rating", "--data", bad, "--out", tmp_path / "x", "--quiet",
                       "--read-option", "rating_range=1:5")
    assert code == 1 and err.count("\n") == 1 and ":3: rating is not a finite number" in err
    implicit = tmp_path / "implicit.csv"
    implicit.write_text("user,item\nu1,i1\nu2,i2\nu3,i1\n")
    code, _, err = hub("finetune", "recsys/mf", "--task", "rating", "--data", implicit, "--out", tmp_path / "y",
                       "--quiet")
    assert code == 1 and "no rating: the data has no rating column (implicit feedback)" in err
    code, _, err = hub("evaluate", out, "--data", implicit)
    assert code == 1 and f"{implicit}:2: no rating" in err


def test_ctr_on_implicit_and_explicit_labels(hub, planted, tmp_path):
    rows = list(csv.DictReader(open(planted / "train.csv")))
    for name, keep in (("clicks", lambda r: {"user": r["user"], "item": r["item"]}),
                       ("labelled", lambda r: {"user": r["user"], "item": r["item"], "click": int(r["rating"]) >= 4})):
        for split in ("train", "val"):
            source = rows if split == "train" else list(csv.DictReader(open(planted / "val.csv")))
            with open(tmp_path / f"{name}-{split}.csv", "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(keep(source[0])))
                writer.writeheader()
                writer.writerows(int_labels(keep(r)) for r in source)
    code, _, err = hub("finetune", "recsys/neumf", "--task", "ctr", "--data", tmp_path / "clicks-train.csv",
                       "--val", tmp_path / "clicks-val.csv", "--out", tmp_path / "implicit", "--epochs", "8",
                       "--batch-size", "256", "--lr", "0.02", "--quiet")
    assert code == 0, err
    manifest = json.loads((tmp_path / "implicit" / "hub.json").read_text())
    assert manifest["task"]["state"]["implicit"] and manifest["metrics"]["auc"] > 0.68
    code, _, err = hub("finetune", "recsys/deepfm", "--task", "ctr", "--data", tmp_path / "labelled-train.csv",
                       "--val", tmp_path / "labelled-val.csv", "--label-column", "click", "--out",
                       tmp_path / "explicit", "--epochs", "6", "--batch-size", "256", "--lr", "0.01", "--quiet",
                       "-p", f"item_features={planted / 'items.csv'}")
    assert code == 0, err
    manifest = json.loads((tmp_path / "explicit" / "hub.json").read_text())
    assert not manifest["task"]["state"]["implicit"] and manifest["metrics"]["auc"] > 0.6
    code, _, err = hub("export", tmp_path / "explicit")  # the pairwise scorer path, with side features inside
    assert code == 0, err
    torch_items, _, _ = recommended(hub, tmp_path / "explicit", "--user", "u3", "--k", "5")
    onnx_items, answers, _ = recommended(hub, tmp_path / "explicit", "--user", "u3", "--k", "5", "--onnx")
    assert onnx_items == torch_items and answers[0]["engine"] == "onnx (scorer)"


def int_labels(row):
    return {k: int(v) if isinstance(v, bool) else v for k, v in row.items()}


def test_split_command(hub, planted, tmp_path):
    code, stdout, err = hub("split-interactions", planted / "interactions.csv", "--by", "time", "--val", "0.1",
                            "--test", "0.2", "--out", tmp_path, "--json")
    assert code == 0, err
    counts = json.loads(stdout)
    total = sum(counts.values())
    assert abs(counts["test"] / total - 0.2) < 0.02 and abs(counts["val"] / total - 0.1) < 0.02
    code, _, err = hub("split-interactions", planted / "interactions.csv", "--by", "time", "--out", tmp_path,
                       "--read-option", "timestamp_column=when")
    assert code == 1 and "missing timestamp column 'when'" in err
