#!/usr/bin/python3
"""PyKMIP as a real KMIP client of s3kms (issue 6).

Runs named scenarios with PyKMIP 0.10 (Debian python3-pykmip; it runs only
under Debian's /usr/bin/python3) against a KMIP server and prints one JSON
line per scenario:

    {"scenario": ..., "version": "1.4", "ok": true|false,
     "status": "pass"|"fail"|"not_supported"|"not_applicable",
     "detail": ...}

A scenario is "not_supported" when the server answers one of its operations
with Result Reason Operation Not Supported, or when it needs the outcome of an
earlier scenario that was not supported; "not_applicable" when the scenario
does not exist at the requested version (GCM tags below 1.4). Such an answer for an operation the
server listed in Query Operations is a failure, not "not_supported". The exit
status is 1 if any scenario failed, 0 otherwise.

Protocol version: ProxyKmipClient(kmip_version=enums.KMIPVersion.KMIP_1_2 ...)
sets the version PyKMIP writes in every request header and uses to encode and
decode payloads (2.0 switches Template-Attribute to Attributes). Default 1.2.

TLS (findings with PyKMIP 0.10, Python 3.11, OpenSSL 3.0, Go crypto/tls):
  * PyKMIP wraps its socket with the deprecated ssl.wrap_socket(ssl_version=
    ..., cert_reqs=CERT_REQUIRED, ca_certs=..., certfile=..., keyfile=...).
    It verifies the server's chain against ca_certs but never checks the
    host name (wrap_socket passes no server_hostname).
  * The default ssl_version 'PROTOCOL_SSLv23' (= PROTOCOL_TLS) negotiates the
    highest common version: TLS 1.3 against a Go server, with the client
    certificate sent in the TLS 1.3 handshake (Go requests it in the
    handshake, not post-handshake). No cipher setting is needed: Go's TLS 1.2
    suites (ECDHE + AES-GCM / ChaCha20) are in OpenSSL's default list.
  * 'PROTOCOL_TLS_CLIENT' does NOT work with PyKMIP: it turns on
    check_hostname, and wrap_socket then fails with "check_hostname requires
    server_hostname". 'PROTOCOL_TLSv1_2' forces TLS 1.2 (DeprecationWarning
    only). --tls 1.2 selects it, to test a server's TLS 1.2 path.
  * PyKMIP's Authentication / credential is left empty: the identity is the
    client certificate.
"""

import argparse
import enum
import json
import os
import sys
import traceback
import uuid
import warnings

# ssl.wrap_socket and PROTOCOL_TLSv1_2 warn on every connection.
warnings.simplefilter("ignore", DeprecationWarning)

from kmip.core import enums  # noqa: E402
from kmip.core import exceptions as core_exc  # noqa: E402
from kmip.core import objects as cobjects  # noqa: E402
from kmip.core import attributes as kattrs  # noqa: E402
from kmip.core import primitives  # noqa: E402
from kmip.core.factories import attributes as attr_factory  # noqa: E402
from kmip.core.messages import messages, payloads  # noqa: E402
from kmip.pie import client as pie_client  # noqa: E402
from kmip.pie import exceptions as pie_exc  # noqa: E402
from kmip.pie import objects  # noqa: E402

VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}
TLS = {"default": "PROTOCOL_SSLv23", "1.2": "PROTOCOL_TLSv1_2"}


class NotSupported(Exception):
    """The server answered Operation Not Supported (or a prerequisite was)."""


class NotApplicable(Exception):
    """The scenario does not exist at the requested KMIP version."""


class Failed(Exception):
    """The scenario's check failed."""


def enum_of(v):
    """PyKMIP returns either enum members or primitives wrapping them."""
    return v if isinstance(v, enum.Enum) else v.value


def failure_message(e):
    """The Result Message of a failure: KmipOperationFailure has it as
    .message; the core OperationFailure only as its exception text."""
    m = getattr(e, "message", None)
    if m is None and e.args:
        m = e.args[0]
    return m


def reason_name(reason):
    return getattr(reason, "name", str(reason))


class Runner:
    def __init__(self, args):
        self.args = args
        self.version = VERSIONS[args.version]
        self.client = None
        self.claimed = None  # operations listed by Query, once known
        self.state = {}  # outcomes shared between scenarios
        self.failed = False
        self.outcome = {}  # scenario → status
        self.suffix = uuid.uuid4().hex[:8]

    # --- connection -------------------------------------------------------

    def connect(self):
        if self.client is None:
            c = pie_client.ProxyKmipClient(
                hostname=self.args.host, port=self.args.port,
                cert=self.args.cert, key=self.args.key, ca=self.args.ca,
                ssl_version=TLS[self.args.tls],
                config_file=os.devnull, kmip_version=self.version)
            c.open()
            self.client = c
        return self.client

    def reset(self):
        """Drops the connection after an unexpected error."""
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        self.client = None

    # --- result handling --------------------------------------------------

    def unsupported(self, op, reason, message):
        """Raises NotSupported, or Failed if Query claimed the operation."""
        if self.claimed is not None and op in self.claimed:
            raise Failed("%s: Operation Not Supported, but Query lists it (%s)"
                         % (op.name, message))
        raise NotSupported("%s: %s" % (op.name, message))

    def check(self, op, result):
        """Checks a KMIPProxy result (object or dict) for success."""
        get = result.get if isinstance(result, dict) else \
            lambda k: getattr(result, k, None)
        status = get("result_status")
        status = getattr(status, "value", status)
        if status == enums.ResultStatus.SUCCESS:
            return result
        reason = get("result_reason")
        reason = getattr(reason, "value", reason)
        message = get("result_message")
        message = getattr(message, "value", message)
        if reason == enums.ResultReason.OPERATION_NOT_SUPPORTED:
            self.unsupported(op, reason, message)
        raise pie_exc.KmipOperationFailure(status, reason, message)

    def call(self, op, fn, *a, **kw):
        """Calls a ProxyKmipClient method, mapping Operation Not Supported."""
        try:
            return fn(*a, **kw)
        except (pie_exc.KmipOperationFailure, core_exc.OperationFailure) as e:
            if e.reason == enums.ResultReason.OPERATION_NOT_SUPPORTED:
                self.unsupported(op, e.reason, failure_message(e))
            raise

    def expect_failure(self, op, fn, *a, **kw):
        """Runs fn, which must fail with a reason other than Not Supported.
        (Operations sent through send_request_payload raise the core
        OperationFailure instead of KmipOperationFailure.)"""
        try:
            fn(*a, **kw)
        except (pie_exc.KmipOperationFailure, core_exc.OperationFailure) as e:
            message = failure_message(e)
            if e.reason == enums.ResultReason.OPERATION_NOT_SUPPORTED:
                self.unsupported(op, e.reason, message)
            if not message:
                raise Failed("%s failed without a Result Message" % op.name)
            return "%s: %s" % (reason_name(e.reason), message)
        raise Failed("%s succeeded; want a failure" % op.name)

    # PRODUCER names the scenario that sets each shared state key.
    PRODUCER = {"uid": "create", "name": "create", "active": "activate",
                "revoked": "revoke", "renamed": "modify_attribute"}

    def need(self, key):
        """Returns state an earlier scenario set. If that scenario was not
        supported, so is this one; if it failed or did not run, this fails
        too (a failure must never show as "not_supported")."""
        if key in self.state:
            return self.state[key]
        producer = self.PRODUCER[key]
        status = self.outcome.get(producer, "not run")
        if status == "not_supported":
            raise NotSupported("needs %s, which is not supported" % producer)
        raise Failed("needs %s, which %s" % (
            producer, "failed" if status == "fail" else "did not run"))

    # --- scenarios --------------------------------------------------------

    def discover_versions(self):
        c = self.connect()
        r = self.check(enums.Operation.DISCOVER_VERSIONS,
                       c.proxy.discover_versions())
        got = ["%d.%d" % (v.major, v.minor) for v in r.protocol_versions]
        if not got:
            raise Failed("no protocol versions")
        if self.args.version not in got:
            raise Failed("requested version %s not among %s"
                         % (self.args.version, got))
        return "versions " + " ".join(got)

    def query(self):
        c = self.connect()
        r = self.check(enums.Operation.QUERY, c.proxy.query(query_functions=[
            enums.QueryFunction.QUERY_OPERATIONS,
            enums.QueryFunction.QUERY_OBJECTS,
            enums.QueryFunction.QUERY_SERVER_INFORMATION,
        ]))
        ops = [enum_of(o) for o in (r.operations or [])]
        if enums.Operation.QUERY not in ops or \
                enums.Operation.DISCOVER_VERSIONS not in ops:
            raise Failed("Query Operations lacks Query or DiscoverVersions: %s"
                         % [o.name for o in ops])
        self.claimed = set(ops)
        objs = [enum_of(o) for o in (r.object_types or [])]
        return "operations %s; objects %s; vendor %s" % (
            " ".join(o.name for o in ops), " ".join(o.name for o in objs),
            getattr(r.vendor_identification, "value",
                    r.vendor_identification))

    def create(self):
        c = self.connect()
        name = "pykmip-%s-%s" % (self.args.version, self.suffix)
        uid = self.call(enums.Operation.CREATE, c.create,
                        enums.CryptographicAlgorithm.AES, 256, name=name,
                        cryptographic_usage_mask=[
                            enums.CryptographicUsageMask.ENCRYPT,
                            enums.CryptographicUsageMask.DECRYPT])
        if not uid or (uid.isdigit() and not self.args.numeric_ids):
            raise Failed("unique identifier %r is not UUID-like" % uid)
        self.state["uid"], self.state["name"] = uid, name
        return uid

    def get(self):
        c, uid = self.connect(), self.need("uid")
        key = self.call(enums.Operation.GET, c.get, uid)
        if not isinstance(key, objects.SymmetricKey) or len(key.value) != 32:
            raise Failed("got %r, want a 256-bit symmetric key" % (key,))
        return "AES key of %d bytes" % len(key.value)

    def locate(self):
        c, uid, name = self.connect(), self.need("uid"), self.need("name")
        f = attr_factory.AttributeFactory()
        found = self.call(enums.Operation.LOCATE, c.locate, attributes=[
            f.create_attribute(enums.AttributeType.NAME, name)])
        if found != [uid]:
            raise Failed("locate by name %s found %s, want [%s]"
                         % (name, found, uid))
        return "found " + uid

    def get_attributes(self):
        c, uid = self.connect(), self.need("uid")
        got_uid, attrs = self.call(
            enums.Operation.GET_ATTRIBUTES, c.get_attributes, uid,
            ["Cryptographic Algorithm", "Cryptographic Length", "State"])
        vals = {a.attribute_name.value: a.attribute_value.value for a in attrs}
        want = {"Cryptographic Algorithm": enums.CryptographicAlgorithm.AES,
                "Cryptographic Length": 256,
                "State": enums.State.PRE_ACTIVE}
        if got_uid != uid or vals != want:
            raise Failed("got %s %s, want %s %s" % (got_uid, vals, uid, want))
        return "AES 256 PRE_ACTIVE"

    def get_all_attributes(self):
        c, uid = self.connect(), self.need("uid")
        got_uid, attrs = self.call(enums.Operation.GET_ATTRIBUTES,
                                   c.get_attributes, uid)
        names = [a.attribute_name.value for a in attrs]
        for want in ("Object Type", "State", "Digest"):
            if want not in names:
                raise Failed("%s missing from %s" % (want, names))
        return "%d attributes" % len(names)

    def encrypt_pre_active(self):
        c, uid = self.connect(), self.need("uid")
        return self.expect_failure(
            enums.Operation.ENCRYPT, c.encrypt, b"x" * 16, uid=uid,
            cryptographic_parameters=self.cbc_params(random_iv=True))

    def activate(self):
        c, uid = self.connect(), self.need("uid")
        self.call(enums.Operation.ACTIVATE, c.activate, uid)
        _, attrs = self.call(enums.Operation.GET_ATTRIBUTES,
                             c.get_attributes, uid, ["State"])
        state = attrs[0].attribute_value.value if attrs else None
        if state != enums.State.ACTIVE:
            raise Failed("state after Activate is %s" % state)
        self.state["active"] = True
        return "ACTIVE"

    def destroy_active(self):
        c, uid = self.connect(), self.need("uid")
        self.need("active")
        return self.expect_failure(enums.Operation.DESTROY, c.destroy, uid)

    def check_usage(self):
        c, uid = self.connect(), self.need("uid")
        got = self.call(enums.Operation.CHECK, c.check, uid,
                        cryptographic_usage_mask=[
                            enums.CryptographicUsageMask.ENCRYPT])
        if got != uid:
            raise Failed("Check returned %r, want %s" % (got, uid))
        msg = self.expect_failure(
            enums.Operation.CHECK, c.check, uid,
            cryptographic_usage_mask=[enums.CryptographicUsageMask.SIGN])
        return "ENCRYPT allowed; SIGN refused (%s)" % msg

    def names_of(self, c, uid):
        _, attrs = self.call(enums.Operation.GET_ATTRIBUTES,
                             c.get_attributes, uid, ["Name"])
        return [a.attribute_value.name_value.value for a in attrs]

    @staticmethod
    def name_value(name):
        return kattrs.Name.create(
            name, enums.NameType.UNINTERPRETED_TEXT_STRING)

    def modify_attribute(self):
        c, uid, name = self.connect(), self.need("uid"), self.need("name")
        new = name + "-renamed"
        if self.args.version.startswith("1."):
            a = attr_factory.AttributeFactory().create_attribute(
                enums.AttributeType.NAME, new, 0)
            self.call(enums.Operation.MODIFY_ATTRIBUTE, c.modify_attribute,
                      uid, attribute=a)
        else:
            self.call(enums.Operation.MODIFY_ATTRIBUTE, c.modify_attribute,
                      uid, current_attribute=cobjects.CurrentAttribute(
                          attribute=self.name_value(name)),
                      new_attribute=cobjects.NewAttribute(
                          attribute=self.name_value(new)))
        got = self.names_of(c, uid)
        if got != [new]:
            raise Failed("names after Modify Attribute %s, want [%s]"
                         % (got, new))
        self.state["renamed"] = new
        return "renamed to " + new

    def delete_attribute(self):
        c, uid, new = self.connect(), self.need("uid"), self.need("renamed")
        if self.args.version.startswith("1."):
            self.call(enums.Operation.DELETE_ATTRIBUTE, c.delete_attribute,
                      uid, attribute_name="Name", attribute_index=0)
        else:
            self.call(enums.Operation.DELETE_ATTRIBUTE, c.delete_attribute,
                      uid, current_attribute=cobjects.CurrentAttribute(
                          attribute=self.name_value(new)))
        got = self.names_of(c, uid)
        if got:
            raise Failed("names after Delete Attribute: %s" % got)
        if self.args.version.startswith("1."):
            again = self.expect_failure(
                enums.Operation.DELETE_ATTRIBUTE, c.delete_attribute, uid,
                attribute_name="Name", attribute_index=0)
        else:
            again = self.expect_failure(
                enums.Operation.DELETE_ATTRIBUTE, c.delete_attribute, uid,
                current_attribute=cobjects.CurrentAttribute(
                    attribute=self.name_value(new)))
        return "Name deleted; again: " + again

    def rekey(self):
        c, uid = self.connect(), self.need("uid")
        self.need("active")
        new = self.call(enums.Operation.REKEY, c.rekey, uid=uid, offset=0)
        if not new or new == uid:
            raise Failed("ReKey returned %r" % new)
        _, attrs = self.call(enums.Operation.GET_ATTRIBUTES,
                             c.get_attributes, new, ["State"])
        state = attrs[0].attribute_value.value if attrs else None
        if state != enums.State.ACTIVE:
            raise Failed("state of the new key is %s" % state)
        return "new key %s ACTIVE" % new

    @staticmethod
    def cbc_params(random_iv=False):
        p = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
             "block_cipher_mode": enums.BlockCipherMode.CBC,
             "padding_method": enums.PaddingMethod.PKCS5}
        if random_iv:
            p["random_iv"] = True
        return p

    def encrypt_decrypt_cbc(self):
        c, uid = self.connect(), self.need("uid")
        self.need("active")
        data = b"seventeen bytes!!" * 3
        # Client IV.
        iv = os.urandom(16)
        ct, got_iv = self.call(enums.Operation.ENCRYPT, c.encrypt, data,
                               uid=uid,
                               cryptographic_parameters=self.cbc_params(),
                               iv_counter_nonce=iv)
        if len(ct) != 64 or got_iv not in (None, iv):
            raise Failed("client IV: %d-byte ciphertext, IV %r" % (len(ct),
                                                                   got_iv))
        pt = self.call(enums.Operation.DECRYPT, c.decrypt, ct, uid=uid,
                       cryptographic_parameters=self.cbc_params(),
                       iv_counter_nonce=iv)
        if pt != data:
            raise Failed("client IV: decrypt gave %r" % pt)
        # Server-random IV.
        ct, got_iv = self.call(
            enums.Operation.ENCRYPT, c.encrypt, data, uid=uid,
            cryptographic_parameters=self.cbc_params(random_iv=True))
        if not got_iv or len(got_iv) != 16:
            raise Failed("random IV: server returned IV %r" % got_iv)
        pt = self.call(enums.Operation.DECRYPT, c.decrypt, ct, uid=uid,
                       cryptographic_parameters=self.cbc_params(),
                       iv_counter_nonce=got_iv)
        if pt != data:
            raise Failed("random IV: decrypt gave %r" % pt)
        return "client IV and server-random IV round trip"

    def crypt_item(self, op, payload):
        """Sends one Encrypt/Decrypt batch item; ProxyKmipClient cannot pass
        additional authenticated data or a tag, KMIPProxy's payloads can."""
        c = self.connect().proxy
        item = messages.RequestBatchItem(
            operation=primitives.Enumeration(enums.Operation, op,
                                             tag=enums.Tags.OPERATION),
            request_payload=payload)
        resp = c._send_and_receive_message(
            c._build_request_message(None, [item]))
        bi = resp.batch_items[0]
        self.check(op, {"result_status": bi.result_status,
                        "result_reason": bi.result_reason,
                        "result_message": bi.result_message})
        return bi.response_payload

    def encrypt_decrypt_gcm(self):
        if self.version < enums.KMIPVersion.KMIP_1_4:
            raise NotApplicable("Authenticated Encryption Additional Data and "
                                "Tag are KMIP 1.4 fields")
        uid = self.need("uid")
        self.need("active")
        params = kattrs.CryptographicParameters(
            block_cipher_mode=enums.BlockCipherMode.GCM,
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
            iv_length=96, tag_length=16)
        data, aad, iv = b"attack at dawn", b"header", os.urandom(12)
        enc = self.crypt_item(enums.Operation.ENCRYPT,
                              payloads.EncryptRequestPayload(
                                  unique_identifier=uid,
                                  cryptographic_parameters=params, data=data,
                                  iv_counter_nonce=iv,
                                  auth_additional_data=aad))
        if not enc.auth_tag or len(enc.auth_tag) != 16:
            raise Failed("no 16-byte Authenticated Encryption Tag: %r"
                         % enc.auth_tag)
        dec = self.crypt_item(enums.Operation.DECRYPT,
                              payloads.DecryptRequestPayload(
                                  unique_identifier=uid,
                                  cryptographic_parameters=params,
                                  data=enc.data, iv_counter_nonce=iv,
                                  auth_additional_data=aad,
                                  auth_tag=enc.auth_tag))
        if dec.data != data:
            raise Failed("decrypt gave %r" % dec.data)
        bad = bytes([enc.auth_tag[0] ^ 1]) + enc.auth_tag[1:]
        try:
            self.crypt_item(enums.Operation.DECRYPT,
                            payloads.DecryptRequestPayload(
                                unique_identifier=uid,
                                cryptographic_parameters=params,
                                data=enc.data, iv_counter_nonce=iv,
                                auth_additional_data=aad, auth_tag=bad))
        except pie_exc.KmipOperationFailure as e:
            return "round trip; bad tag refused (%s)" % reason_name(e.reason)
        raise Failed("decrypt with a wrong tag succeeded")

    def revoke(self):
        c, uid = self.connect(), self.need("uid")
        self.call(enums.Operation.REVOKE, c.revoke,
                  enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        self.state["revoked"] = True
        return "revoked"

    def destroy(self):
        c, uid = self.connect(), self.need("uid")
        self.need("revoked")
        self.call(enums.Operation.DESTROY, c.destroy, uid)
        return "destroyed; " + self.expect_failure(enums.Operation.GET,
                                                   c.get, uid)

    def register(self):
        c = self.connect()
        material = os.urandom(16)
        key = objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, 128, material,
            masks=[enums.CryptographicUsageMask.ENCRYPT,
                   enums.CryptographicUsageMask.DECRYPT],
            name="pykmip-reg-%s-%s" % (self.args.version, self.suffix))
        uid = self.call(enums.Operation.REGISTER, c.register, key)
        got = self.call(enums.Operation.GET, c.get, uid)
        if got.value != material:
            raise Failed("Get returned other key material")
        return "registered " + uid

    def register_secret(self):
        c = self.connect()
        value = b"pykmip password " + self.suffix.encode()
        secret = objects.SecretData(
            value, enums.SecretDataType.PASSWORD,
            name="pykmip-secret-%s-%s" % (self.args.version, self.suffix))
        uid = self.call(enums.Operation.REGISTER, c.register, secret)
        got = self.call(enums.Operation.GET, c.get, uid)
        if not isinstance(got, objects.SecretData) or got.value != value or \
                got.data_type != enums.SecretDataType.PASSWORD:
            raise Failed("Get returned %r" % (got,))
        self.call(enums.Operation.DESTROY, c.destroy, uid)
        return "registered, got and destroyed " + uid

    def register_opaque(self):
        c = self.connect()
        value = os.urandom(100)
        # PyKMIP names every object it registers ("Opaque Object" by
        # default); Names are unique on the server, so give our own.
        obj = objects.OpaqueObject(
            value, enums.OpaqueDataType.NONE,
            name="pykmip-opaque-%s-%s" % (self.args.version, self.suffix))
        uid = self.call(enums.Operation.REGISTER, c.register, obj)
        got = self.call(enums.Operation.GET, c.get, uid)
        if not isinstance(got, objects.OpaqueObject) or got.value != value:
            raise Failed("Get returned %r" % (got,))
        f = attr_factory.AttributeFactory()
        found = self.call(enums.Operation.LOCATE, c.locate, attributes=[
            f.create_attribute(enums.AttributeType.OBJECT_TYPE,
                               enums.ObjectType.OPAQUE_DATA)])
        if uid not in found:
            raise Failed("locate by Object Type found %s, not %s" % (found, uid))
        return "registered, got and located " + uid

    def create_3des(self):
        c = self.connect()
        uid = self.call(enums.Operation.CREATE, c.create,
                        enums.CryptographicAlgorithm.TRIPLE_DES, 192)
        key = self.call(enums.Operation.GET, c.get, uid)
        if not isinstance(key, objects.SymmetricKey) or len(key.value) != 24:
            raise Failed("got %r, want a 3DES key" % (key,))
        return "3DES key of 24 bytes"

    def register_bad_algorithm(self):
        # PyKMIP checks lengths itself; the server must refuse a
        # symmetric key of an algorithm it does not support.
        c = self.connect()
        key = objects.SymmetricKey(enums.CryptographicAlgorithm.RSA, 128,
                                   os.urandom(16))
        return self.expect_failure(enums.Operation.REGISTER, c.register, key)

    def get_missing(self):
        c = self.connect()
        return self.expect_failure(enums.Operation.GET, c.get,
                                   str(uuid.uuid4()))

    SCENARIOS = [
        "discover_versions", "query", "create", "get", "locate",
        "get_attributes", "get_all_attributes", "encrypt_pre_active", "activate", "destroy_active",
        "check_usage", "modify_attribute", "delete_attribute", "rekey",
        "encrypt_decrypt_cbc", "encrypt_decrypt_gcm", "revoke", "destroy",
        "register", "register_secret", "register_opaque", "create_3des",
        "register_bad_algorithm", "get_missing",
    ]

    def run(self, names):
        for name in names:
            out = {"scenario": name, "version": self.args.version}
            try:
                detail = getattr(self, name)()
                out.update(ok=True, status="pass", detail=detail)
            except NotApplicable as e:
                out.update(ok=False, status="not_applicable", detail=str(e))
            except NotSupported as e:
                out.update(ok=False, status="not_supported", detail=str(e))
            except (Failed, pie_exc.KmipOperationFailure,
                    core_exc.OperationFailure) as e:
                out.update(ok=False, status="fail", detail=str(e))
            except Exception as e:
                out.update(ok=False, status="fail", detail="%s: %s\n%s" % (
                    type(e).__name__, e, traceback.format_exc(limit=4)))
                self.reset()
            self.outcome[name] = out["status"]
            if out["status"] == "fail":
                self.failed = True
            print(json.dumps(out), flush=True)
        self.reset()
        return 1 if self.failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5696)
    p.add_argument("--cert", help="client certificate (PEM); required")
    p.add_argument("--key", help="client key (PEM); required")
    p.add_argument("--ca", help="CA of the server (PEM); required")
    p.add_argument("--version", choices=sorted(VERSIONS), default="1.2")
    p.add_argument("--tls", choices=sorted(TLS), default="default",
                   help="default: negotiate (TLS 1.3 with Go); 1.2: force")
    p.add_argument("--numeric-ids", action="store_true",
                   help="accept bare-number unique identifiers (PyKMIP's "
                   "own server, to check this script)")
    p.add_argument("--list", action="store_true", help="list scenarios")
    p.add_argument("scenarios", nargs="*", help="default: all, in order")
    args = p.parse_args()
    if args.list:
        print("\n".join(Runner.SCENARIOS))
        return 0
    if not (args.cert and args.key and args.ca):
        p.error("--cert, --key and --ca are required")
    names = args.scenarios or Runner.SCENARIOS
    for n in names:
        if n not in Runner.SCENARIOS:
            p.error("unknown scenario %s" % n)
    return Runner(args).run(names)


if __name__ == "__main__":
    sys.exit(main())
