#!/usr/bin/env bash
# `tendd --once` on a spec with a template and VMs converges against the Proxmox VE API
# emulator (tests/fixtures/proxmox) and exits 0; a second --once writes nothing. Loopback only.
source "$(dirname "$0")/daemon_lib.sh"
need openssl

PVE=$WORK/pve
python3 "$SRC/tests/fixtures/proxmox/pve_emulator.py" --listen 127.0.0.1 --port 0 --dir "$PVE" \
  --token 'tend@pve!once=5ecret-once-token' --auth-delay 0.2 --task-seconds 0.1 --nodes pve \
  >"$WORK/pve.log" 2>&1 &
PIDS+=($!)
wait_for test -s "$PVE/ready.json" || fail "the emulator did not start"
PVE_PORT=$(json 'd["port"]' <"$PVE/ready.json")
FP=$(json 'd["fingerprint"]' <"$PVE/ready.json")
admin() { curl -sS -k -X "$1" "https://127.0.0.1:$PVE_PORT/_admin$2" ${3:+--data-binary "$3"}; }
IMG=https://images.example/noble-server-cloudimg-amd64.img
SHA=9b1c1d3f0a3e6c2b5d4e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c
admin POST /images "{\"url\": \"$IMG\", \"sha256\": \"$SHA\", \"size\": 1073741824}" >/dev/null

SPEC=$WORK/spec
mkdir -p "$SPEC"
printf '5ecret-once-token\n' >"$SPEC/pve-token"
cat >"$SPEC/environment.yml" <<YML
environment: oncetest
network: { cidr: 127.0.30.0/24, gateway: 127.0.30.1 }
reconcile: { interval: 1h, parallelism: { proxmox: 2 } }
providers:
  proxmox:
    endpoint: https://127.0.0.1:$PVE_PORT
    node: pve
    token_id: tend@pve!once
    token_secret_file: pve-token
    tls: { fingerprint: "$FP" }
    ciuser: tend
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkq8T7c1uYh0sOe4l5eX2h0m8c3y8w9YcZ0f6hXbq ci@tend"]
templates:
  base: { vmid: 9000, image_url: "$IMG", sha256: "$SHA", cores: 2, memory: 2048 }
YML
cat >"$SPEC/hosts.yml" <<'YML'
vms:
  alpha: { vmid: 1001, template: base, ip: 127.0.30.11, cores: 2, memory: 2048, disk: 10G }
  bravo: { vmid: 1002, template: base, ip: 127.0.30.12, cores: 1, memory: 1024, disk: 12G, tags: [app] }
YML

PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --once --listen 127.0.0.1:$PORT \
  --socket "$WORK/tendd.sock" >"$WORK/tendd.log" 2>&1 || fail "tendd --once should converge the VMs"
python3 - "$PVE_PORT" <<'PY' || fail "VMs not as the spec says: $(admin GET /vms)"
import json, ssl, sys, urllib.request
ctx = ssl._create_unverified_context()
vms = json.load(urllib.request.urlopen("https://127.0.0.1:%s/_admin/vms" % sys.argv[1], context=ctx))["data"]
assert vms["9000"]["config"]["template"] == "1", vms["9000"]
for vmid, ip, mem in (("1001", "127.0.30.11", "2048"), ("1002", "127.0.30.12", "1024")):
    v = vms[vmid]
    assert v["status"] == "running", v
    assert v["config"]["ipconfig0"] == "ip=%s/24,gw=127.0.30.1" % ip, v
    assert v["config"]["memory"] == mem, v
    assert v["config"]["ciuser"] == "tend", v
    assert "io.tend.environment=oncetest" in v["config"]["description"], v
assert vms["1002"]["config"]["tags"] == "app;tend", vms["1002"]
assert "size=12G" in vms["1002"]["config"]["scsi0"], vms["1002"]
PY
pass "tendd --once converges a template and two VMs"

admin POST /counters/reset >/dev/null
PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --once --listen 127.0.0.1:$PORT \
  --socket "$WORK/tendd.sock" >"$WORK/tendd2.log" 2>&1 || fail "second tendd --once should succeed"
W=$(admin GET /counters | json 'd["data"]["writes"]')
[ "$W" = 0 ] || fail "a second --once wrote $W times: $(admin GET /counters)"
pass "a second --once writes nothing"
