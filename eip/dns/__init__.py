"""Energy DNS: card names to (Energy IP, MAC, public key, kind, VPP) over real UDP DNS (docs/card.md).

- `records`: `CardEntry`, its validation and its RRsets (`NAME.energy.` A + TXT, `<mac>.mac.energy.` A + TXT);
- `zone`: `EnergyZone`, the zone's logic as a plain object, answering QUERY and RFC 2136 UPDATE;
- `server`: `EnergyDnsServer`, the UDP shell around it, authoritative for the zone; `store`: its JSON file;
- `client`: `resolve`, `resolve_mac`, `register`, `unregister`.

UPDATE authentication (Ed25519, trust on first use)
---------------------------------------------------
A card changes only its own name `NAME.<zone>`; the server keeps the `.mac.` name in step. Its UPDATE has
the zone section `<zone> SOA`, no prerequisites, and in the update section:

    NAME.<zone>  ANY ANY                                  ; delete the name's RRsets (replace)
    NAME.<zone>  60 IN A   <energy ip>                    ; register only
    NAME.<zone>  60 IN TXT "mac=.." "kind=.." "vpp=.." "key=<hex>" "updated=<ts>"   ; register only
    NAME.<zone>   0 IN TXT "sig=<128 hex>" "ts=<ts>"       ; always: the signature, never stored

`sig` is the Ed25519 signature, by the card's key, of `records.update_content(...)`: the ASCII lines

    EIP-DNS-UPDATE/1
    zone=<zone>        op=add|delete        name=NAME
    ip=..  mac=..  kind=..  vpp=..  key=<hex>               (op=add only)
    ts=<Unix time, 6 decimals>

(one per line, each ending in a newline). The server checks it with the key already registered for NAME,
or, for a name it does not know, with the key carried in the TXT (trust on first use: the first
registration claims the name and proves possession of the key). So a card that moves re-registers its new
IP signed with the same key; a key rotation is signed by the old key. `ts` must be within 300 s of the
server's clock and, for a known name, newer than the stored one (a replay is refused; an exact
retransmission of the last applied UPDATE is answered NOERROR). A MAC already held by another name is
refused. Every refusal is rcode REFUSED (FORMERR for a malformed update, NOTZONE/NOTAUTH for another zone)
with the reason in an Extended DNS Error (RFC 8914) option when the UPDATE carried EDNS, and is counted.
"""
