#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/) from the specs,
the invalid-spec corpus and the SOPS/age vectors of this repository. Run from the repository
root; the fuzzers add what they find to their own copies (tests/fuzz/run.sh)."""
import glob, json, os

out = 'tests/fuzz/corpus'
SEP = b'%%FILE\n'

def put(target, name, data):
    os.makedirs(f'{out}/{target}', exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    open(f'{out}/{target}/{name}', 'wb').write(data)

def rd(p):
    try:
        return open(p, 'rb').read()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return b''

def specseed(d, compose=None):
    parts = [rd(f'{d}/environment.yml'), rd(f'{d}/hosts.yml'), rd(f'{d}/apps.yml')]
    if compose:
        parts.append(rd(compose))
    return SEP.join(parts)

put('fuzz_spec_loader', 'local', specseed('specs/local', 'specs/local/compose/status.yml'))
put('fuzz_spec_loader', 'wil', specseed('specs/wil'))
for d in sorted(glob.glob('tests/testdata/invalid/*')):
    put('fuzz_spec_loader', 'invalid-' + os.path.basename(d), specseed(d))

zone = {"zone": "home.test", "view": "internal", "server": "local", "conf_dir": "/tmp/x",
        "reverse": False, "ttl": 300,
        "soa": {"mname": "ns.home.test.", "rname": "hostmaster.home.test.", "refresh": 3600,
                "retry": 600, "expire": 604800, "minimum": 300},
        "records": [
            {"name": "@", "type": "NS", "value": "ns.home.test.", "ttl": None},
            {"name": "ns", "type": "A", "value": "127.0.0.1", "ttl": None},
            {"name": "hello", "type": "A", "value": "127.0.0.1", "ttl": None},
            {"name": "@", "type": "MX", "value": "10 mail.example.com.", "ttl": 3600},
            {"name": "txt", "type": "TXT", "value": "v=spf1 -all \"quoted\" " + "x" * 300, "ttl": None},
            {"name": "_sip._tcp", "type": "SRV", "value": "10 5 5060 sip.home.test.", "ttl": None},
            {"name": "@", "type": "CAA", "value": "0 issue letsencrypt.org", "ttl": None},
            {"name": "www", "type": "CNAME", "value": "hello.home.test.", "ttl": 60},
            {"name": "v6", "type": "AAAA", "value": "::1", "ttl": None},
            {"name": "multi", "type": "TXT", "value": ["a", "b c"], "ttl": None}]}
put('fuzz_zone_render', 'zone', json.dumps(zone, indent=1))
rev = {"zone": "0.0.127.in-addr.arpa", "view": "internal", "server": "local", "conf_dir": "/tmp/x",
       "reverse": True, "ttl": 300,
       "soa": {"mname": "ns.home.test.", "rname": "hostmaster@home.test", "refresh": 3600,
               "retry": 600, "expire": 604800, "minimum": 300},
       "records": [{"name": "1", "type": "PTR", "value": "hello.home.test.", "ttl": None}],
       "rndc": {"server": "127.0.0.1", "port": 9953, "key_file": "/tmp/k"}}
put('fuzz_zone_render', 'reverse', json.dumps(rev))
conf = {"kind": "dnsconf", "server": "local", "conf_dir": "/etc/bind",
        "rndc": {"server": "127.0.0.1", "port": 953, "key_file": "/etc/bind/rndc.key"},
        "acls": {"trusted": ["localhost", "localnets", "10.2.0.0/16"]},
        "forwarders": ["1.1.1.1", "1.0.0.1"], "transfer_clients": ["10.3.20.53"],
        "views": [{"name": "internal", "match_clients": ["trusted"], "recursion": True,
                   "zones": ["wil.5am.cloud", "20.2.10.in-addr.arpa"]},
                  {"name": "external", "match_clients": ["any"], "recursion": False,
                   "zones": ["wil.5am.cloud"]}],
        "secondary_zones": [{"name": "ldn.5am.cloud", "primaries": ["10.3.20.53"]}]}
put('fuzz_zone_render', 'dnsconf', json.dumps(conf))
put('fuzz_zone_render', 'zonefile',
    "; managed by tend: resource zone/home.test@internal — do not edit\n"
    "; tend: hash=h body=b sha256=s\n$ORIGIN home.test.\n$TTL 300\n"
    "@ IN SOA ns.home.test. hostmaster.home.test. (\n        2026120200 ; serial\n"
    "        3600 ; refresh\n        600 ; retry\n        604800 ; expire\n        300 ) ; minimum\n"
    "@     IN NS ns.home.test.\nhello IN A  127.0.0.1\n")
put('fuzz_zone_render', 'zonestatus',
    "name: home.test\ntype: primary\nfiles: zones/internal/home.test.zone\nserial: 2026120201\nnodes: 4\n")
put('fuzz_zone_render', 'namedlog',
    "02-Dec-2026 10:00:00.000 zone home.test/IN/internal: loading from master file "
    "/x/zones/internal/home.test.zone failed: unexpected end of input\n"
    "02-Dec-2026 10:00:00.000 zone home.test/IN/internal: not loaded due to errors.\n")

for f in sorted(glob.glob('tests/testdata/secrets/sops-vectors/*/*')):
    b = os.path.basename(f)
    if b.endswith('.expected.json') or 'key' in b.lower() or 'identity' in b.lower() or b.endswith('.md'):
        continue
    put('fuzz_secrets', 'sops-' + os.path.basename(os.path.dirname(f)) + '-' + b, rd(f))
put('fuzz_secrets', 'wil-secrets', rd('specs/wil/secrets.sops.yml'))
for f in sorted(glob.glob('tests/testdata/secrets/age-cctv/*')):
    b = os.path.basename(f)
    if b == 'README.md':
        continue
    data = rd(f)
    i = data.find(b'\n\n')  # a vector's file follows its header block
    put('fuzz_secrets', 'age-' + b, data[i + 2:] if i >= 0 else data)
put('fuzz_secrets', 'recipient', 'age1vw9uzewgfryewquhn9umvhlj4y32sld6gc3f6gpw8thrwjqltdfslfwwxh')

ctr = [{"Id": "abc123", "Names": ["/hello-web"], "Image": "local/busybox:demo", "ImageID": "sha256:1111",
        "State": "running", "Status": "Up 2 minutes (healthy)",
        "Labels": {"io.tend.resource": "container/hello/web", "io.tend.environment": "local",
                   "io.tend.spec-hash": "deadbeef", "com.docker.compose.project": "hello"},
        "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}],
        "NetworkSettings": {"Networks": {"hello_default": {"NetworkID": "n1"}}},
        "Mounts": [{"Type": "volume", "Name": "hello_data", "Destination": "/data"}]},
       {"Id": "def456", "Names": ["/status-web"], "Image": "local/busybox:demo", "State": "exited",
        "Status": "Exited (3) 1 minute ago",
        "Labels": {"io.tend.resource": "container/status/web", "io.tend.environment": "local"}}]
nets = [{"Name": "hello_default", "Id": "n1", "Driver": "bridge",
         "Labels": {"io.tend.resource": "network/local/hello_default", "io.tend.environment": "local",
                    "io.tend.spec-hash": "x"}, "IPAM": {"Config": [{"Subnet": "172.30.0.0/24"}]}},
        {"Name": "bridge", "Id": "n0", "Driver": "bridge", "Labels": {}}]
vols = {"Volumes": [{"Name": "hello_data", "Driver": "local",
                     "Labels": {"io.tend.resource": "volume/local/hello_data", "io.tend.environment": "local",
                                "io.tend.spec-hash": "y"}}], "Warnings": None}
imgs = [{"Id": "sha256:1111", "RepoTags": ["local/busybox:demo"], "RepoDigests": []}]
put('fuzz_docker_json', 'lists', SEP.join([b'json'] + [json.dumps(x).encode() for x in (ctr, nets, vols, imgs)] + [b'{}']))
put('fuzz_docker_json', 'empty', SEP.join([b'json', b'[]', b'[]', b'{"Volumes":[]}', b'[]', b'{}']))

def http(body, chunked=False, status='200 OK'):
    h = f'HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n'
    b = body.encode()
    if chunked:
        mid = len(b) // 2
        return (h + 'Transfer-Encoding: chunked\r\n\r\n').encode() + f'{mid:x}\r\n'.encode() + b[:mid] + \
            b'\r\n' + f'{len(b) - mid:x}\r\n'.encode() + b[mid:] + b'\r\n0\r\n\r\n'
    return (h + f'Content-Length: {len(b)}\r\n\r\n').encode() + b

put('fuzz_docker_json', 'raw-chunked', SEP.join([b'raw', http(json.dumps(ctr), True), http(json.dumps(nets)),
                                                 http(json.dumps(vols), True), http(json.dumps(imgs)), b'']))
put('fuzz_docker_json', 'raw-errors', SEP.join([b'raw', http('{"message":"boom"}', status='500 Internal Server Error'),
                                                b'garbage\r\n\r\n', http('{"message":"x"}', status='404 Not Found'),
                                                b'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n[', b'']))

T = 'Bearer fuzz-token-0123456789'
reqs = {
    'healthz': '\x00GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    'status': '\x00GET /v1/status HTTP/1.1\r\nHost: tend.lan:9469\r\nIf-None-Match: "fuzz", W/"x"\r\n\r\n',
    'events': '\x01GET /v1/events?since=5&limit=10 HTTP/1.1\r\nHost: x\r\n\r\n',
    'plan': '\x00GET /v1/plan HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    'metrics': '\x00GET /metrics HTTP/1.0\r\n\r\n',
    'reconcile-token': '\x00POST /v1/reconcile HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ' + T +
                       '\r\nContent-Type: application/json\r\nContent-Length: 48\r\n\r\n{"resources":["container/app/web"],"wait":true}',
    'reconcile-notoken': '\x00POST /v1/reconcile HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}',
    'reconcile-unix': '\x01POST /v1/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{"wait":false}',
    'reconcile-chunked': '\x01POST /v1/reconcile HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"wai\r\n9\r\nt":true}\r\n0\r\n\r\n',
    'hook': '\x00POST /v1/hooks/git HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Hub-Signature-256: sha256=00\r\n'
            'X-GitHub-Event: push\r\nContent-Length: 2\r\n\r\n{}',
    'pipelined': '\x00GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
                 'GET /nope HTTP/1.1\r\n\r\n',
    'foreign-host': '\x00GET /v1/status HTTP/1.1\r\nHost: evil.example:9469\r\n\r\n',
    'bad-method': '\x00DELETE /v1/status HTTP/1.1\r\nHost: [::1]:9469\r\n\r\n',
    'expect': '\x00POST /v1/reconcile HTTP/1.1\r\nExpect: 100-continue\r\nAuthorization: Bearer wrong\r\n'
              'Content-Length: 2\r\n\r\n{}',
}
for k, v in reqs.items():
    put('fuzz_http_request', k, v)

# fuzz_proxmox_json: VM config, task status, error body, value lines (the emulator's and the
# API reference's shapes).
pve_config = {"name": "dns", "cores": 2, "memory": "2048", "sockets": 1, "agent": "1", "onboot": 1,
              "scsi0": "local-lvm:vm-120-disk-0,size=32G", "scsihw": "virtio-scsi-pci",
              "ide2": "local-lvm:vm-120-cloudinit,media=cdrom",
              "net0": "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1",
              "ipconfig0": "ip=127.2.20.53/24,gw=127.2.20.1", "nameserver": "127.2.20.1",
              "searchdomain": "home.test", "ciuser": "ops",
              "sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIFuzz%20fuzz%40tend%0A",
              "tags": "dns;tend", "digest": "5f3c0b8e1c0d3a9e7b2f4d6a8c0e2f4a6b8d0c2e",
              "description": "the resolver\ntend: io.tend.resource=vm/dns io.tend.environment=fuzz io.tend.spec-hash=0123456789abcdef\n"}
pve_lines = "\n".join([
    "UPID:pve:0000A1B2:0001C3D4:6553F00D:qmclone:9000:tend@pve!ci:",
    "UPID:pve-2:00000001:00000002:00000003:qmstart:120:root@pam:",
    "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1,tag=20",
    "model=e1000,macaddr=bc:24:11:00:00:01,bridge=vmbr1,mtu=1400",
    "virtio,bridge=vmbr0",
    "ip=127.2.20.53/24,gw=127.2.20.1,ip6=auto",
    "ip=dhcp,ip6=fd00::5/64,gw6=fd00::1",
    "32G", "34359738368", "512M", "1.5T", "current=4096", "4096",
    "local-lvm:vm-120-disk-0,size=32G,discard=on",
    "dns;tend,Web  app", "a b%2Fc?d=e&f"])
put('fuzz_proxmox_json', 'converged', SEP.join([
    json.dumps(pve_config).encode(), json.dumps({"status": "stopped", "exitstatus": "OK"}).encode(),
    b'{"data":null,"errors":{"memory":"value must be at least 16"}}', pve_lines.encode()]))
put('fuzz_proxmox_json', 'running-task', SEP.join([
    json.dumps({"name": "web", "memory": 1024, "cores": "1", "virtio0": "ceph:vm-1-disk-0,size=8G",
                "net0": "e1000=00:11:22:33:44:55,bridge=vmbr1"}).encode(),
    json.dumps({"status": "running", "upid": "UPID:pve:00000001:00000002:00000003:qmclone:9000:root@pam:"}).encode(),
    b"can't lock file '/var/lock/qemu-server/lock-120.conf' - got timeout",
    b"UPID:node:1:2:3:x:y:z:"]))
put('fuzz_proxmox_json', 'failed-task', SEP.join([
    b"{}", json.dumps({"status": "stopped", "exitstatus": "WARNINGS: 2"}).encode(),
    b'{"data":null,"message":"VM 120 already running\\n"}', b"ip=10.0.0.1\nvirtio=zz"]))
