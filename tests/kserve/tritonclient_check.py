#!/usr/bin/env python3
"""Drive a running `kiln serve` with Triton's published KServe V2 HTTP client (`tritonclient[http]`).

    python3 tests/kserve/tritonclient_check.py HOST:PORT MODEL ROWS.json

ROWS.json is a list of row objects (feature -> value). The script checks liveness, readiness, server
and model metadata, then sends the rows as one named tensor per feature (FP64 for numbers, BYTES for
text) and prints one JSON document: the classes, probabilities and prediction ids the client decoded.
Any protocol mismatch raises, so the exit status is non-zero.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient


def main():
    url, model, rows_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(rows_path) as f:
        rows = json.load(f)
    client = httpclient.InferenceServerClient(url=url)
    assert client.is_server_live(), "server not live"
    assert client.is_server_ready(), "server not ready"
    assert client.is_model_ready(model), "model not ready"
    server = client.get_server_metadata()
    meta = client.get_model_metadata(model)
    inputs = []
    for spec in meta["inputs"]:
        name, datatype = spec["name"], spec["datatype"]
        values = [r[name] for r in rows]
        if datatype == "BYTES":
            data = np.array([str(v).encode() for v in values], dtype=np.object_).reshape(-1, 1)
        else:
            data = np.array(values, dtype=np.float64).reshape(-1, 1)
        t = httpclient.InferInput(name, list(data.shape), datatype)
        t.set_data_from_numpy(data, binary_data=False)
        inputs.append(t)
    outputs = [
        httpclient.InferRequestedOutput(n, binary_data=False)
        for n in ("class", "probabilities", "prediction_id")
    ]
    result = client.infer(model, inputs, outputs=outputs, request_id="tritonclient-1")
    response = result.get_response()
    classes = [c.decode() if isinstance(c, bytes) else c for c in result.as_numpy("class").tolist()]
    probabilities = result.as_numpy("probabilities").tolist()
    ids = [i.decode() if isinstance(i, bytes) else i for i in result.as_numpy("prediction_id").tolist()]
    print(
        json.dumps(
            {
                "server": server["name"],
                "model": meta["name"],
                "versions": meta.get("versions"),
                "request_id": response.get("id"),
                "model_version": response.get("model_version"),
                "classes": classes,
                "probabilities": probabilities,
                "prediction_ids": ids,
            }
        )
    )


if __name__ == "__main__":
    main()
