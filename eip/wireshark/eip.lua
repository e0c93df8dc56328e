-- Wireshark / tshark dissector for the Energy Internet protocol, version 1 (docs/protocol.md).
--
-- Registered on ip.proto == 253. Decodes the Energy-IP header, Energy-IP control messages
-- (static-limit and price notices, service-fee bills, limit exceeded and unreachable with the quoted headers),
-- Energy-TCP with its options (request, reject, schedule, offer), and the application records (BEE,
-- pool order, pool fill, delivery signature SIG and receipt RCPT). Checksums are verified;
-- signatures are shown, not verified (that needs the cards' public keys).
--
-- Use:   tshark -X lua_script:eip.lua -r capture.pcap -V
--   or   copy this file into ~/.local/lib/wireshark/plugins/ (eip wireshark --install).
--
-- The dissector never raises a Lua error on bad input: every read is length-checked, problems are
-- reported as expert infos (group Malformed / Checksum / Protocol), and the body runs under pcall as
-- a last resort (reported as energyip.internal_error, which should never appear).
--
-- Field names: energyip.*, energyctl.*, energytcp.*, bee.* (see docs/wireshark.md).
-- Value names come from eip/protocol/constants.py (registries of docs/protocol.md section 9).

local IP_PROTO_ENERGY = 253

---------------------------------------------------------------------------------------------------
-- Registries (docs/protocol.md section 9, eip/protocol/constants.py)
---------------------------------------------------------------------------------------------------
local ENERGY_TYPES = { [0] = "none", [1] = "electricity", [2] = "heat", [3] = "gas",
    [4] = "green-certificate", [5] = "carbon-right", [6] = "flexibility" }
local BEE_TYPES = { [1] = "electricity", [2] = "heat", [3] = "gas", [4] = "green-certificate",
    [5] = "carbon-right", [6] = "flexibility" }
local BEE_UNITS = { [1] = "Wh", [2] = "Wh", [3] = "Wh", [4] = "Wh", [5] = "g", [6] = "W" }
local NEXT_HEADERS = { [1] = "energy-control", [6] = "energy-tcp" }
local CONTROL_TYPES = { [1] = "static-limit", [2] = "limit-exceeded", [3] = "unreachable",
    [4] = "price", [5] = "fee" }
local CONTROL_CODES = {
    [1] = { [0] = "notice" },
    [2] = { [0] = "static", [1] = "dynamic", [2] = "quota" },
    [3] = { [0] = "network", [1] = "host", [2] = "port", [3] = "prohibited", [4] = "islanded" },
    [5] = { [0] = "bill" },
    [4] = { [0] = "notice" },
}
local OPTION_KINDS = { [0] = "eol", [1] = "nop", [2] = "request", [3] = "reject", [4] = "schedule",
    [5] = "offer" }
local OPTION_LENGTHS = { [2] = 20, [3] = 8, [4] = 16, [5] = 20 }
local REJECT_REASONS = { [1] = "insufficient-supply", [2] = "static-limit", [3] = "dynamic-limit",
    [4] = "deadline-infeasible", [5] = "no-service", [6] = "unauthorized", [7] = "busy",
    [8] = "malformed", [9] = "islanded", [10] = "cancelled", [255] = "other" }
local SCHEDULE_MODES = { [1] = "deliver", [2] = "store", [3] = "draw" }
local EMERGENCY_CODES = { [1] = "device", [2] = "escalation", [3] = "grid" }
local WELL_KNOWN_PORTS = { [1] = "energy-server", [2] = "bee-pool", [3] = "auction", [4] = "isp",
    [10] = "delivery" }
local RECORD_KINDS = { [1] = "bee", [2] = "order", [3] = "fill", [4] = "sig", [5] = "rcpt" }
local RECORD_LENGTHS = { [1] = 48, [2] = 32, [3] = 36, [4] = 76, [5] = 76 }
local ORDER_SIDES = { [1] = "send", [2] = "ask" }
local ORDER_ACTIONS = { [1] = "place", [2] = "cancel", [3] = "query" }
local FILL_STATUSES = { [1] = "partial", [2] = "complete", [3] = "cancelled", [4] = "rejected",
    [5] = "resting" }
local HEAT_MEDIA = { [1] = "water", [2] = "steam", [3] = "thermal-oil" }
local GAS_DELIVERY = { [1] = "pipeline", [2] = "compressed", [3] = "liquefied" }
local CHECKSUM_STATUS = { [0] = "Bad", [1] = "Good", [2] = "Unverified" }
-- DSCP (R3.3, registry 9.8): class k is 8k without BEE records and 8k + 2 with; EF 46 / 44; CS6 48.
local DSCP_NAMES = { [0] = "class-0", [2] = "class-0-bee", [8] = "class-1", [10] = "class-1-bee",
    [16] = "class-2", [18] = "class-2-bee", [24] = "class-3", [26] = "class-3-bee", [32] = "class-4",
    [34] = "class-4-bee", [40] = "class-5", [42] = "class-5-bee", [44] = "emergency-bee",
    [46] = "emergency", [48] = "isp-control" }
local NO_LIMIT = 0xFFFFFFFF

---------------------------------------------------------------------------------------------------
-- Protocols
---------------------------------------------------------------------------------------------------
local p_eip = Proto("energyip", "Energy-IP")
local p_ctl = Proto("energyctl", "Energy-IP Control")
local p_tcp = Proto("energytcp", "Energy-TCP")
local p_bee = Proto("bee", "BEE record")

local PF = ProtoField

-- Energy-IP header (section 4)
local fe = {
    version = PF.uint8("energyip.version", "Version", base.DEC, nil, 0xF0),
    hlen = PF.uint8("energyip.hlen", "Header length (32-bit words)", base.DEC, nil, 0x0F),
    energy_type = PF.uint8("energyip.energy_type", "Energy type", base.DEC, ENERGY_TYPES),
    flags = PF.uint8("energyip.flags", "Flags", base.HEX),
    flag_isp = PF.bool("energyip.flags.isp", "ISP (originated by the Energy ISP)", 8, nil, 0x01),
    flag_lim = PF.bool("energyip.flags.lim", "LIM (a hop lowered the static limit)", 8, nil, 0x02),
    flag_mov = PF.bool("energyip.flags.mov", "MOV (card away from its home LAN)", 8, nil, 0x04),
    flag_rsvd = PF.uint8("energyip.flags.reserved", "Reserved", base.HEX, nil, 0xF8),
    next_header = PF.uint8("energyip.next_header", "Next header", base.DEC, NEXT_HEADERS),
    origin_mac = PF.ether("energyip.origin_mac", "Origin EIC MAC"),
    checksum = PF.uint16("energyip.checksum", "Checksum", base.HEX),
    checksum_status = PF.uint8("energyip.checksum.status", "Checksum status", base.DEC, CHECKSUM_STATUS),
    checksum_calc = PF.uint16("energyip.checksum.calculated", "Calculated checksum", base.HEX),
    node_id = PF.uint32("energyip.node_id", "Grid node id", base.DEC),
    period = PF.uint32("energyip.period", "Period index", base.DEC),
    static_limit = PF.uint32("energyip.static_limit", "Static exchange limit (BEE/period)", base.DEC),
    options = PF.bytes("energyip.options", "Header options (future words)"),
    payload = PF.bytes("energyip.payload", "Undecoded payload"),
}
p_eip.fields = fe

-- Energy-IP control messages (section 5)
local fc = {
    type = PF.uint8("energyctl.type", "Type", base.DEC, CONTROL_TYPES),
    code = PF.uint8("energyctl.code", "Code", base.DEC),
    checksum = PF.uint16("energyctl.checksum", "Checksum", base.HEX),
    checksum_status = PF.uint8("energyctl.checksum.status", "Checksum status", base.DEC, CHECKSUM_STATUS),
    checksum_calc = PF.uint16("energyctl.checksum.calculated", "Calculated checksum", base.HEX),
    value = PF.uint32("energyctl.value", "Value (reserved)", base.DEC),
    limit = PF.uint32("energyctl.limit", "Limit in force at the hop (BEE)", base.DEC),
    period = PF.uint32("energyctl.period", "Period index", base.DEC),
    period_s = PF.uint32("energyctl.period_s", "Period length (s)", base.DEC),
    export_limit = PF.uint32("energyctl.export_limit", "Static export limit (BEE/period)", base.DEC),
    import_limit = PF.uint32("energyctl.import_limit", "Static import limit (BEE/period)", base.DEC),
    buy_price = PF.int32("energyctl.buy_price", "Grid buy price (micro-currency per kBEE)", base.DEC),
    sell_price = PF.int32("energyctl.sell_price", "Grid sell price (micro-currency per kBEE)", base.DEC),
    usage = PF.uint32("energyctl.usage", "Metered usage billed (BEE)", base.DEC),
    fee_rate = PF.uint32("energyctl.fee_rate", "Fee rate (micro-currency per kBEE)", base.DEC),
    extra = PF.bytes("energyctl.extra", "Extra bytes after the body"),
    quote = PF.bytes("energyctl.quote", "Quoted packet"),
    q_version = PF.uint8("energyctl.quote.ip.version", "IPv4 version", base.DEC, nil, 0xF0),
    q_ihl = PF.uint8("energyctl.quote.ip.hdr_len", "IPv4 header length (32-bit words)", base.DEC, nil, 0x0F),
    q_dscp = PF.uint8("energyctl.quote.ip.dscp", "IPv4 DSCP", base.DEC, DSCP_NAMES, 0xFC),
    q_len = PF.uint16("energyctl.quote.ip.len", "IPv4 total length", base.DEC),
    q_id = PF.uint16("energyctl.quote.ip.id", "IPv4 identification", base.HEX),
    q_ttl = PF.uint8("energyctl.quote.ip.ttl", "IPv4 TTL", base.DEC),
    q_proto = PF.uint8("energyctl.quote.ip.proto", "IPv4 protocol", base.DEC),
    q_src = PF.ipv4("energyctl.quote.ip.src", "IPv4 source (Energy IP address)"),
    q_dst = PF.ipv4("energyctl.quote.ip.dst", "IPv4 destination (Energy IP address)"),
    q_transport = PF.bytes("energyctl.quote.transport", "Quoted transport bytes"),
}
p_ctl.fields = fc

-- Energy-TCP (section 6)
local ft = {
    srcport = PF.uint16("energytcp.srcport", "Source port", base.DEC),
    dstport = PF.uint16("energytcp.dstport", "Destination port", base.DEC),
    port = PF.uint16("energytcp.port", "Source or destination port", base.DEC),
    seq = PF.uint32("energytcp.seq", "Sequence number (BEE units)", base.DEC),
    ack = PF.uint32("energytcp.ack", "Acknowledgment number (BEE units)", base.DEC),
    hdr_len = PF.uint8("energytcp.hdr_len", "Data offset (32-bit words)", base.DEC, nil, 0xF0),
    reserved = PF.uint8("energytcp.reserved", "Reserved bits", base.HEX, nil, 0x0F),
    flags = PF.uint8("energytcp.flags", "Flags", base.HEX),
    flag_fin = PF.bool("energytcp.flags.fin", "FIN (close)", 8, nil, 0x01),
    flag_syn = PF.bool("energytcp.flags.syn", "SYN (request/accept)", 8, nil, 0x02),
    flag_rst = PF.bool("energytcp.flags.rst", "RST (reject)", 8, nil, 0x04),
    flag_psh = PF.bool("energytcp.flags.psh", "PSH", 8, nil, 0x08),
    flag_ack = PF.bool("energytcp.flags.ack", "ACK", 8, nil, 0x10),
    flag_urg = PF.bool("energytcp.flags.urg", "URG (emergency)", 8, nil, 0x20),
    flag_wup = PF.bool("energytcp.flags.wup", "WUP (ISP window update)", 8, nil, 0x40),
    flag_rsvd = PF.bool("energytcp.flags.reserved", "Reserved", 8, nil, 0x80),
    checksum = PF.uint16("energytcp.checksum", "Checksum", base.HEX),
    checksum_status = PF.uint8("energytcp.checksum.status", "Checksum status", base.DEC, CHECKSUM_STATUS),
    checksum_calc = PF.uint16("energytcp.checksum.calculated", "Calculated checksum", base.HEX),
    window = PF.uint32("energytcp.window", "Window = dynamic exchange limit (BEE units)", base.DEC),
    urgent = PF.uint16("energytcp.urgent", "Urgent (emergency code)", base.DEC),
    reserved2 = PF.uint16("energytcp.reserved2", "Reserved", base.HEX),
    message = PF.string("energytcp.message", "Message class"),
    options = PF.bytes("energytcp.options", "Options"),
    opt_kind = PF.uint8("energytcp.option.kind", "Kind", base.DEC, OPTION_KINDS),
    opt_len = PF.uint8("energytcp.option.length", "Length (bytes)", base.DEC),
    opt_data = PF.bytes("energytcp.option.data", "Data (unknown kind)"),
    opt_padding = PF.bytes("energytcp.option.padding", "Padding"),
    req_quantity = PF.uint32("energytcp.option.request.quantity", "Quantity (BEE units)", base.DEC),
    req_start = PF.uint32("energytcp.option.request.start", "Time frame start (Unix s)", base.DEC),
    req_end = PF.uint32("energytcp.option.request.end", "Time frame end (Unix s)", base.DEC),
    req_deadline = PF.uint32("energytcp.option.request.deadline", "Deadline (Unix s)", base.DEC),
    req_bee_type = PF.uint8("energytcp.option.request.bee_type", "BEE type", base.DEC, ENERGY_TYPES),
    req_priority = PF.uint8("energytcp.option.request.priority", "Priority class (0 = server decides)", base.DEC),
    off_quantity = PF.uint32("energytcp.option.offer.quantity", "Quantity offered (BEE units)", base.DEC),
    off_start = PF.uint32("energytcp.option.offer.start", "Time frame start (Unix s)", base.DEC),
    off_end = PF.uint32("energytcp.option.offer.end", "Time frame end (Unix s)", base.DEC),
    off_deadline = PF.uint32("energytcp.option.offer.deadline", "Deadline (Unix s)", base.DEC),
    off_bee_type = PF.uint8("energytcp.option.offer.bee_type", "BEE type", base.DEC, ENERGY_TYPES),
    off_priority = PF.uint8("energytcp.option.offer.priority", "Priority class (0 = server decides)", base.DEC),
    rej_reason = PF.uint16("energytcp.option.reject.reason", "Reason", base.DEC, REJECT_REASONS),
    rej_retry = PF.uint32("energytcp.option.reject.retry_after", "Retry after (s)", base.DEC),
    sch_mode = PF.uint8("energytcp.option.schedule.mode", "Mode", base.DEC, SCHEDULE_MODES),
    sch_reserved = PF.uint8("energytcp.option.schedule.reserved", "Reserved", base.HEX),
    sch_start = PF.uint32("energytcp.option.schedule.start", "Start (Unix s)", base.DEC),
    sch_slot = PF.uint16("energytcp.option.schedule.slot", "Slot length (s)", base.DEC),
    sch_n_slots = PF.uint16("energytcp.option.schedule.n_slots", "Number of slots", base.DEC),
    sch_bee_per_slot = PF.uint32("energytcp.option.schedule.bee_per_slot", "BEE per slot (BEE units)", base.DEC),
    records = PF.uint16("energytcp.records", "Number of records", base.DEC),
    bee_units = PF.uint32("energytcp.bee_units", "Sequence space used (BEE units)", base.DEC),
}
p_tcp.fields = ft

-- Application records (section 7)
local fb = {
    kind = PF.uint8("bee.kind", "Record kind", base.DEC, RECORD_KINDS),
    flags = PF.uint8("bee.flags", "Record flags", base.HEX),
    flag_store = PF.bool("bee.flags.store", "STORE (delivered into storage)", 8, nil, 0x01),
    length = PF.uint16("bee.length", "Record length (bytes)", base.DEC),
    -- BEE (kind 1)
    type = PF.uint8("bee.type", "BEE type", base.DEC, ENERGY_TYPES),
    reserved = PF.uint8("bee.reserved", "Reserved", base.HEX),
    green_ratio = PF.uint16("bee.green_ratio", "Green ratio (basis points)", base.DEC),
    carbon = PF.uint32("bee.carbon", "Carbon intensity (mg CO2e per BEE unit)", base.DEC),
    heat_media = PF.int32("bee.heat.media", "Heat media", base.DEC, HEAT_MEDIA),
    heat_temperature = PF.int32("bee.heat.temperature", "Temperature (0.01 degC)", base.DEC),
    heat_mass_flow = PF.int32("bee.heat.mass_flow", "Mass flow (g/s)", base.DEC),
    gas_delivery = PF.int32("bee.gas.delivery", "Gas delivery", base.DEC, GAS_DELIVERY),
    gas_pressure = PF.int32("bee.gas.pressure", "Pressure (Pa)", base.DEC),
    gas_mass_flow = PF.int32("bee.gas.mass_flow", "Mass flow (g/s)", base.DEC),
    flex_ramp = PF.int32("bee.flex.ramp", "Ramp rate (W/min)", base.DEC),
    attr1 = PF.int32("bee.attr1", "Attribute segment 1: TBD (reserved)", base.DEC),
    attr2 = PF.int32("bee.attr2", "Attribute segment 2: TBD (reserved)", base.DEC),
    attr3 = PF.int32("bee.attr3", "Attribute segment 3: TBD (reserved)", base.DEC),
    attr4 = PF.int32("bee.attr4", "Attribute segment 4: TBD (reserved)", base.DEC),
    attr5 = PF.int32("bee.attr5", "Attribute segment 5: TBD (reserved)", base.DEC),
    quantity = PF.uint32("bee.quantity", "Quantity (BEE units)", base.DEC),
    price = PF.int32("bee.price", "Price (micro-currency per kBEE)", base.DEC),
    start = PF.uint32("bee.start", "Time frame start (Unix s)", base.DEC),
    ["end"] = PF.uint32("bee.end", "Time frame end (Unix s)", base.DEC),
    -- Pool order (kind 2)
    order_id = PF.uint32("bee.order.id", "Order id", base.DEC),
    order_side = PF.uint8("bee.order.side", "Side", base.DEC, ORDER_SIDES),
    order_type = PF.uint8("bee.order.type", "BEE type", base.DEC, ENERGY_TYPES),
    order_action = PF.uint8("bee.order.action", "Action", base.DEC, ORDER_ACTIONS),
    order_reserved = PF.uint8("bee.order.reserved", "Reserved", base.HEX),
    order_quantity = PF.uint32("bee.order.quantity", "Quantity (BEE units)", base.DEC),
    order_price = PF.int32("bee.order.price", "Limit price (micro-currency per kBEE)", base.DEC),
    order_start = PF.uint32("bee.order.start", "Time frame start (Unix s)", base.DEC),
    order_end = PF.uint32("bee.order.end", "Time frame end (Unix s)", base.DEC),
    order_min_green = PF.uint16("bee.order.min_green_ratio", "Minimum green ratio (basis points)", base.DEC),
    order_reserved2 = PF.uint16("bee.order.reserved2", "Reserved", base.HEX),
    -- Pool fill (kind 3)
    fill_order_id = PF.uint32("bee.fill.order_id", "Order id", base.DEC),
    fill_peer_mac = PF.ether("bee.fill.peer_mac", "Peer EIC MAC"),
    fill_status = PF.uint8("bee.fill.status", "Status", base.DEC, FILL_STATUSES),
    fill_reserved = PF.uint8("bee.fill.reserved", "Reserved", base.HEX),
    fill_peer_ip = PF.ipv4("bee.fill.peer_ip", "Peer Energy IP address"),
    fill_quantity = PF.uint32("bee.fill.quantity", "Quantity matched (BEE units)", base.DEC),
    fill_price = PF.int32("bee.fill.price", "Price (micro-currency per kBEE)", base.DEC),
    fill_start = PF.uint32("bee.fill.start", "Time frame start (Unix s)", base.DEC),
    fill_end = PF.uint32("bee.fill.end", "Time frame end (Unix s)", base.DEC),
    -- Delivery signature (kind 4) and receipt (kind 5), section 7.4
    sig_start = PF.uint32("bee.sig.start_seq", "Delivery record start (BEE units)", base.DEC),
    sig_end = PF.uint32("bee.sig.end_seq", "Delivery record end, exclusive (BEE units)", base.DEC),
    sig_signature = PF.bytes("bee.sig.signature", "Sender Ed25519 signature"),
    rcpt_start = PF.uint32("bee.rcpt.start_seq", "Delivery record start (BEE units)", base.DEC),
    rcpt_end = PF.uint32("bee.rcpt.end_seq", "Delivery record end, exclusive (BEE units)", base.DEC),
    rcpt_signature = PF.bytes("bee.rcpt.signature", "Receiver Ed25519 signature"),
    data = PF.bytes("bee.data", "Undecoded record bytes"),
}
p_bee.fields = fb

-- Expert infos (all registered on energyip; see docs/wireshark.md)
local ex = {
    truncated = ProtoExpert.new("energyip.truncated", "Truncated", expert.group.MALFORMED, expert.severity.ERROR),
    malformed = ProtoExpert.new("energyip.malformed", "Malformed", expert.group.MALFORMED, expert.severity.ERROR),
    unknown = ProtoExpert.new("energyip.unknown", "Unknown value (packet must be discarded)",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_checksum = ProtoExpert.new("energyip.bad_checksum", "Bad checksum", expert.group.CHECKSUM,
        expert.severity.ERROR),
    violation = ProtoExpert.new("energyip.violation", "Protocol rule violated", expert.group.PROTOCOL,
        expert.severity.WARN),
    reserved = ProtoExpert.new("energyip.reserved_nonzero", "Reserved field is not zero",
        expert.group.PROTOCOL, expert.severity.WARN),
    undecoded = ProtoExpert.new("energyip.undecoded", "Skipped unknown option", expert.group.UNDECODED,
        expert.severity.NOTE),
    emergency = ProtoExpert.new("energyip.emergency", "Emergency", expert.group.REQUEST_CODE,
        expert.severity.NOTE),
    internal = ProtoExpert.new("energyip.internal_error", "Dissector internal error",
        expert.group.MALFORMED, expert.severity.ERROR),
}
p_eip.experts = ex

-- IPv4 addresses of the enclosing datagram, for the Energy-TCP pseudo-header (R6.3).
local f_ip_src = Field.new("ip.src")
local f_ip_dst = Field.new("ip.dst")

---------------------------------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------------------------------
local function name_of(tbl, v)
    local n = tbl[v]
    if n then return n end
    return "unknown"
end

local function fits(tvb, off, n)
    return off >= 0 and n > 0 and off + n <= tvb:len()
end

-- Add fields given as {field, offset, size[, bits]} relative to `base`; stop at the first that does
-- not fit, flag the truncation on `item` and return false.
local function add_fields(tree, item, tvb, base, specs, what)
    for _, s in ipairs(specs) do
        local off, size = base + s[2], s[3]
        if not fits(tvb, off, size) then
            item:add_proto_expert_info(ex.truncated, string.format(
                "%s truncated: %d bytes available, %d needed", what, tvb:len() - base,
                s[2] + size))
            return false
        end
        local it = tree:add(s[1], tvb:range(off, size))
        if s[4] then
            for _, bitf in ipairs(s[4]) do it:add(bitf, tvb:range(off, size)) end
        end
        if s.post then s.post(it, tvb:range(off, size)) end
    end
    return true
end

-- RFC 1071 one's complement sum of tvb bytes [off, off+len), skipping the 2 bytes at `skip`.
local function ones_sum(tvb, off, len, skip, sum)
    sum = sum or 0
    if len <= 0 then return sum end
    local ba = tvb:bytes(off, len)
    local i = 0
    while i < len do
        if i ~= skip then
            local hi = ba:get_index(i)
            local lo = 0
            if i + 1 < len then lo = ba:get_index(i + 1) end
            sum = sum + hi * 256 + lo
        end
        i = i + 2
    end
    return sum
end

local function fold(sum)
    while sum > 0xFFFF do sum = (sum % 65536) + math.floor(sum / 65536) end
    return 0xFFFF - sum
end

-- Add checksum, its status and the calculated value. `calc` nil = cannot verify.
local function add_checksum(tree, f_ck, f_status, f_calc, tvb, off, calc, what)
    local it = tree:add(f_ck, tvb:range(off, 2))
    local stored = tvb:range(off, 2):uint()
    if calc == nil then
        it:append_text(" [unverified]")
        tree:add(f_status, 2):set_generated()
        return nil
    end
    local cit = tree:add(f_calc, calc)
    cit:set_generated()
    if calc == stored then
        it:append_text(" [correct]")
        tree:add(f_status, 1):set_generated()
        return true
    end
    it:append_text(string.format(" [incorrect, should be 0x%04x]", calc))
    tree:add(f_status, 0):set_generated()
    it:add_proto_expert_info(ex.bad_checksum, string.format("Bad %s checksum 0x%04x, should be 0x%04x",
        what, stored, calc))
    return false
end

local function fmt_time(v)
    return " (" .. os.date("!%Y-%m-%d %H:%M:%SZ", v) .. ")"
end

local function append_time(item, v)
    if v ~= 0 then item:append_text(fmt_time(v)) end
end

local function port_name(p)
    if WELL_KNOWN_PORTS[p] then return WELL_KNOWN_PORTS[p] end
    if p >= 49152 then return "ephemeral" end
    return nil
end

---------------------------------------------------------------------------------------------------
-- Application records (section 7)
---------------------------------------------------------------------------------------------------
local BEE_NAMED_ATTRS = {
    [2] = { [1] = "heat_media", [2] = "heat_temperature", [3] = "heat_mass_flow" },
    [3] = { [1] = "gas_delivery", [2] = "gas_pressure", [3] = "gas_mass_flow" },
    [6] = { [1] = "flex_ramp" },
}

local function dissect_bee(tvb, rt, item, off, ctx)
    local btype = tvb:range(off + 4, 1):uint()
    local qty = tvb:range(off + 32, 4):uint()
    rt:add(fb.type, tvb:range(off + 4, 1))
    local rs = rt:add(fb.reserved, tvb:range(off + 5, 1))
    if tvb:range(off + 5, 1):uint() ~= 0 then rs:add_proto_expert_info(ex.reserved) end
    local g = rt:add(fb.green_ratio, tvb:range(off + 6, 2))
    local gv = tvb:range(off + 6, 2):uint()
    g:append_text(string.format(" (%.2f %%)", gv / 100))
    if gv > 10000 then g:add_proto_expert_info(ex.violation, "Green ratio above 10000 basis points (R7.3)") end
    rt:add(fb.carbon, tvb:range(off + 8, 4))
    local named = BEE_NAMED_ATTRS[btype] or {}
    for i = 1, 5 do
        local aoff = off + 12 + (i - 1) * 4
        local key = named[i]
        if key then
            rt:add(fb[key], tvb:range(aoff, 4))
        else
            rt:add(fb["attr" .. i], tvb:range(aoff, 4))
        end
    end
    local q = rt:add(fb.quantity, tvb:range(off + 32, 4))
    if BEE_UNITS[btype] then q:append_text(" " .. BEE_UNITS[btype]) end
    if qty == 0 then q:add_proto_expert_info(ex.violation, "BEE quantity must be at least 1 (R7.4)") end
    rt:add(fb.price, tvb:range(off + 36, 4))
    local s = tvb:range(off + 40, 4):uint()
    local e = tvb:range(off + 44, 4):uint()
    append_time(rt:add(fb.start, tvb:range(off + 40, 4)), s)
    local eit = rt:add(fb["end"], tvb:range(off + 44, 4))
    append_time(eit, e)
    if e < s then eit:add_proto_expert_info(ex.violation, "Time frame ends before it starts (R1.4)") end
    if not BEE_TYPES[btype] then
        item:add_proto_expert_info(ex.unknown, string.format("Unknown BEE type %d (R7.2)", btype))
    end
    item:append_text(string.format(": %d %s %s", qty, BEE_UNITS[btype] or "units", name_of(BEE_TYPES, btype)))
    ctx.n_bee = ctx.n_bee + 1
    ctx.units = ctx.units + qty
    ctx.bee_qty = ctx.bee_qty + qty
    ctx.bee_types[btype] = true
    ctx.bee_type_last = btype
end

local function dissect_order(tvb, rt, item, off, ctx)
    rt:add(fb.order_id, tvb:range(off + 4, 4))
    rt:add(fb.order_side, tvb:range(off + 8, 1))
    rt:add(fb.order_type, tvb:range(off + 9, 1))
    rt:add(fb.order_action, tvb:range(off + 10, 1))
    local r1 = rt:add(fb.order_reserved, tvb:range(off + 11, 1))
    if tvb:range(off + 11, 1):uint() ~= 0 then r1:add_proto_expert_info(ex.reserved) end
    rt:add(fb.order_quantity, tvb:range(off + 12, 4))
    rt:add(fb.order_price, tvb:range(off + 16, 4))
    append_time(rt:add(fb.order_start, tvb:range(off + 20, 4)), tvb:range(off + 20, 4):uint())
    append_time(rt:add(fb.order_end, tvb:range(off + 24, 4)), tvb:range(off + 24, 4):uint())
    rt:add(fb.order_min_green, tvb:range(off + 28, 2))
    local r2 = rt:add(fb.order_reserved2, tvb:range(off + 30, 2))
    if tvb:range(off + 30, 2):uint() ~= 0 then r2:add_proto_expert_info(ex.reserved) end
    local side, action = tvb:range(off + 8, 1):uint(), tvb:range(off + 10, 1):uint()
    local qty, bt = tvb:range(off + 12, 4):uint(), tvb:range(off + 9, 1):uint()
    if not ORDER_SIDES[side] or not ORDER_ACTIONS[action] then
        item:add_proto_expert_info(ex.violation, "Order side or action not in the registry (R7.8)")
    end
    local txt = string.format("%s %s %d BEE %s", name_of(ORDER_ACTIONS, action), name_of(ORDER_SIDES, side),
        qty, name_of(ENERGY_TYPES, bt))
    item:append_text(": " .. txt)
    ctx.n_order = ctx.n_order + 1
    ctx.units = ctx.units + 1
    ctx.summary = ctx.summary or ("Order " .. txt)
end

local function dissect_fill(tvb, rt, item, off, ctx)
    rt:add(fb.fill_order_id, tvb:range(off + 4, 4))
    rt:add(fb.fill_peer_mac, tvb:range(off + 8, 6))
    rt:add(fb.fill_status, tvb:range(off + 14, 1))
    local r1 = rt:add(fb.fill_reserved, tvb:range(off + 15, 1))
    if tvb:range(off + 15, 1):uint() ~= 0 then r1:add_proto_expert_info(ex.reserved) end
    rt:add(fb.fill_peer_ip, tvb:range(off + 16, 4))
    rt:add(fb.fill_quantity, tvb:range(off + 20, 4))
    rt:add(fb.fill_price, tvb:range(off + 24, 4))
    append_time(rt:add(fb.fill_start, tvb:range(off + 28, 4)), tvb:range(off + 28, 4):uint())
    append_time(rt:add(fb.fill_end, tvb:range(off + 32, 4)), tvb:range(off + 32, 4):uint())
    local st = tvb:range(off + 14, 1):uint()
    if not FILL_STATUSES[st] then
        item:add_proto_expert_info(ex.violation, "Fill status not in the registry (R7.8)")
    end
    local txt = string.format("order %d %s %d BEE", tvb:range(off + 4, 4):uint(), name_of(FILL_STATUSES, st),
        tvb:range(off + 20, 4):uint())
    item:append_text(": " .. txt)
    ctx.n_fill = ctx.n_fill + 1
    ctx.units = ctx.units + 1
    ctx.summary = ctx.summary or ("Fill " .. txt)
end

-- (b - a) mod 2^32
local function seq_diff(b, a)
    return (b - a) % 4294967296
end

local HALF = 2147483648

local function dissect_sig(tvb, rt, item, off, ctx, kind, idx)
    local s = tvb:range(off + 4, 4):uint()
    local e = tvb:range(off + 8, 4):uint()
    local span = seq_diff(e, s)
    if kind == 4 then
        rt:add(fb.sig_start, tvb:range(off + 4, 4))
        local eit = rt:add(fb.sig_end, tvb:range(off + 8, 4))
        rt:add(fb.sig_signature, tvb:range(off + 12, 64))
        local want = (ctx.seq + ctx.units) % 4294967296
        if e ~= want then
            eit:add_proto_expert_info(ex.violation, string.format(
                "SIG end %d must be the segment's seq + units = %d (R7.9)", e, want))
        end
        if span >= HALF or seq_diff(ctx.seq, s) > span then
            item:add_proto_expert_info(ex.violation, "SIG range must start at or before the segment's seq (R7.9)")
        end
        if ctx.units == 0 then
            item:add_proto_expert_info(ex.violation, "A SIG closes a data segment: BEE records must precede it (R6.7)")
        end
        ctx.n_sig = ctx.n_sig + 1
        ctx.sig_idx = idx
        ctx.sig = string.format("+SIG [%d,%d)", s, e)
    else
        rt:add(fb.rcpt_start, tvb:range(off + 4, 4))
        local eit = rt:add(fb.rcpt_end, tvb:range(off + 8, 4))
        rt:add(fb.rcpt_signature, tvb:range(off + 12, 64))
        if span >= HALF then
            item:add_proto_expert_info(ex.violation, "RCPT range is inverted (R7.10)")
        end
        if seq_diff(ctx.ack, e) >= HALF then
            eit:add_proto_expert_info(ex.violation, "RCPT ends after the acknowledgment number (R7.10)")
        end
        ctx.n_rcpt = ctx.n_rcpt + 1
        ctx.rcpt_idx = ctx.rcpt_idx or idx
        ctx.rcpt = (ctx.rcpt and (ctx.rcpt .. " ") or "") .. string.format("RCPT [%d,%d)", s, e)
    end
    item:append_text(string.format(": [%d,%d)", s, e))
end

-- Dissect the records from `off` to the end of the segment; returns false if malformed.
local function dissect_records(tvb, tree, off, ctx)
    local idx = 0
    local total = tvb:len()
    while off < total do
        local remain = total - off
        if remain < 4 then
            local it = tree:add(p_bee, tvb:range(off, remain))
            it:append_text(string.format(" [%d]", idx))
            it:add(fb.data, tvb:range(off, remain))
            it:add_proto_expert_info(ex.truncated, string.format(
                "Partial record header: %d bytes (R7.1)", remain))
            return false
        end
        local kind = tvb:range(off, 1):uint()
        local rlen = tvb:range(off + 2, 2):uint()
        local want = RECORD_LENGTHS[kind]
        local span = remain
        if want and rlen == want and rlen <= remain then span = rlen end
        local item = tree:add(p_bee, tvb:range(off, span))
        item:append_text(string.format(" [%d] %s", idx, name_of(RECORD_KINDS, kind)))
        item:add(fb.kind, tvb:range(off, 1))
        local fl = item:add(fb.flags, tvb:range(off + 1, 1))
        fl:add(fb.flag_store, tvb:range(off + 1, 1))
        local flv = tvb:range(off + 1, 1):uint()
        if (kind == 1 and flv > 1) or (kind ~= 1 and flv ~= 0) then fl:add_proto_expert_info(ex.reserved) end
        local li = item:add(fb.length, tvb:range(off + 2, 2))
        if not want then
            item:add(fb.data, tvb:range(off, span))
            item:add_proto_expert_info(ex.unknown, string.format("Unknown record kind %d (R7.1)", kind))
            return false
        end
        if rlen ~= want then
            li:add_proto_expert_info(ex.malformed, string.format(
                "Record length %d, kind %s must be %d (R7.1)", rlen, RECORD_KINDS[kind], want))
            return false
        end
        if rlen > remain then
            item:add(fb.data, tvb:range(off, remain))
            item:add_proto_expert_info(ex.truncated, string.format(
                "Partial record: %d of %d bytes (R7.1)", remain, rlen))
            return false
        end
        if ctx.sig_idx then
            item:add_proto_expert_info(ex.violation, "A SIG must be the last record of its segment (R7.9)")
        end
        if kind == 1 then
            dissect_bee(tvb, item, item, off, ctx)
        elseif kind == 2 then
            dissect_order(tvb, item, item, off, ctx)
        elseif kind == 3 then
            dissect_fill(tvb, item, item, off, ctx)
        else
            dissect_sig(tvb, item, item, off, ctx, kind, idx)
        end
        off = off + rlen
        idx = idx + 1
    end
    if ctx.n_rcpt > 0 and (ctx.n_bee + ctx.n_order + ctx.n_fill + ctx.n_sig > 0) then
        tree:add_proto_expert_info(ex.violation, "A segment with RCPT records carries no other records (R7.10)")
    end
    return true
end

---------------------------------------------------------------------------------------------------
-- Energy-TCP (section 6)
---------------------------------------------------------------------------------------------------
local function dissect_options(tvb, tree, off, stop, ctx)
    local ot = tree:add(ft.options, tvb:range(off, stop - off))
    while off < stop do
        local kind = tvb:range(off, 1):uint()
        if kind == 0 then
            ot:add(ft.opt_kind, tvb:range(off, 1)):append_text(" (end of list)")
            if off + 1 < stop then
                local pad = ot:add(ft.opt_padding, tvb:range(off + 1, stop - off - 1))
                local ba = tvb:bytes(off + 1, stop - off - 1)
                for i = 0, ba:len() - 1 do
                    if ba:get_index(i) ~= 0 then pad:add_proto_expert_info(ex.reserved); break end
                end
            end
            return true
        elseif kind == 1 then
            ot:add(ft.opt_kind, tvb:range(off, 1)):append_text(" (no-op)")
            off = off + 1
        else
            if off + 2 > stop then
                ot:add_proto_expert_info(ex.malformed, "Option length byte missing (R6.8)")
                return false
            end
            local olen = tvb:range(off + 1, 1):uint()
            if olen < 2 or off + olen > stop then
                local it = ot:add(ft.opt_kind, tvb:range(off, 1))
                it:add(ft.opt_len, tvb:range(off + 1, 1))
                it:add_proto_expert_info(ex.malformed, string.format(
                    "Option length %d is below 2 or runs past the options area (R6.8)", olen))
                return false
            end
            local name = OPTION_KINDS[kind]
            local item = ot:add(tvb:range(off, olen),
                string.format("Option: %s (%d), length %d", name or "unknown", kind, olen))
            item:add(ft.opt_kind, tvb:range(off, 1))
            item:add(ft.opt_len, tvb:range(off + 1, 1))
            local want = OPTION_LENGTHS[kind]
            if want and olen ~= want then
                item:add_proto_expert_info(ex.malformed, string.format(
                    "Option %s must be %d bytes long, not %d (R6.8)", name, want, olen))
                return false
            end
            local d = off + 2
            if kind == 2 or kind == 5 then
                local q = tvb:range(d, 4):uint()
                local bt = tvb:range(d + 16, 1):uint()
                local f = { ft.req_quantity, ft.req_start, ft.req_end, ft.req_deadline, ft.req_bee_type, ft.req_priority }
                if kind == 5 then
                    f = { ft.off_quantity, ft.off_start, ft.off_end, ft.off_deadline, ft.off_bee_type, ft.off_priority }
                end
                item:add(f[1], tvb:range(d, 4))
                append_time(item:add(f[2], tvb:range(d + 4, 4)), tvb:range(d + 4, 4):uint())
                append_time(item:add(f[3], tvb:range(d + 8, 4)), tvb:range(d + 8, 4):uint())
                append_time(item:add(f[4], tvb:range(d + 12, 4)), tvb:range(d + 12, 4):uint())
                item:add(f[5], tvb:range(d + 16, 1))
                item:add(f[6], tvb:range(d + 17, 1))
                item:append_text(string.format(": %d BEE %s", q, name_of(ENERGY_TYPES, bt)))
                ctx.n_request = ctx.n_request + 1
                ctx.request = string.format("%d BEE %s", q, name_of(ENERGY_TYPES, bt))
                if kind == 5 then ctx.offer = true end
            elseif kind == 3 then
                local reason = tvb:range(d, 2):uint()
                local retry = tvb:range(d + 2, 4):uint()
                item:add(ft.rej_reason, tvb:range(d, 2))
                item:add(ft.rej_retry, tvb:range(d + 2, 4))
                ctx.reject = string.format("reason=%s retry=%ds", name_of(REJECT_REASONS, reason), retry)
                item:append_text(": " .. ctx.reject)
            elseif kind == 4 then
                local mode = tvb:range(d, 1):uint()
                item:add(ft.sch_mode, tvb:range(d, 1))
                local r = item:add(ft.sch_reserved, tvb:range(d + 1, 1))
                if tvb:range(d + 1, 1):uint() ~= 0 then r:add_proto_expert_info(ex.reserved) end
                append_time(item:add(ft.sch_start, tvb:range(d + 2, 4)), tvb:range(d + 2, 4):uint())
                item:add(ft.sch_slot, tvb:range(d + 6, 2))
                item:add(ft.sch_n_slots, tvb:range(d + 8, 2))
                item:add(ft.sch_bee_per_slot, tvb:range(d + 10, 4))
                ctx.schedule = string.format("%s %dx%ds %d BEE/slot", name_of(SCHEDULE_MODES, mode),
                    tvb:range(d + 8, 2):uint(), tvb:range(d + 6, 2):uint(), tvb:range(d + 10, 4):uint())
                item:append_text(": " .. ctx.schedule)
            else
                if olen > 2 then item:add(ft.opt_data, tvb:range(d, olen - 2)) end
                item:add_proto_expert_info(ex.undecoded, string.format(
                    "Unknown option kind %d, %d bytes skipped (R6.8)", kind, olen))
            end
            off = off + olen
        end
    end
    return true
end

local function name_port(item, range)
    local n = port_name(range:uint())
    if n then item:append_text(" (" .. n .. ")") end
end

local function has(flags, bitv)
    return math.floor(flags / bitv) % 2 == 1
end

local function flag_string(flags)
    local names = { { 0x01, "FIN" }, { 0x02, "SYN" }, { 0x04, "RST" }, { 0x08, "PSH" }, { 0x10, "ACK" },
        { 0x20, "URG" }, { 0x40, "WUP" }, { 0x80, "RSV" } }
    local out = {}
    for _, p in ipairs(names) do
        if has(flags, p[1]) then out[#out + 1] = p[2] end
    end
    return table.concat(out, ", ")
end

local function tcp_pseudo_sum(seg_len)
    local srcs = { f_ip_src() }
    local dsts = { f_ip_dst() }
    if #srcs == 0 or #dsts == 0 then return nil end
    local s = srcs[#srcs].range
    local d = dsts[#dsts].range
    if s == nil or d == nil or s:len() ~= 4 or d:len() ~= 4 then return nil end
    return s:range(0, 2):uint() + s:range(2, 2):uint() + d:range(0, 2):uint() + d:range(2, 2):uint()
        + IP_PROTO_ENERGY + seg_len
end

-- Classify the segment (seed 004 message classes, section 6.2).
local function classify(flags, ctx, has_records)
    local syn, ack, rst, fin = has(flags, 0x02), has(flags, 0x10), has(flags, 0x04), has(flags, 0x01)
    local wup = has(flags, 0x40)
    if wup then return "Window update" end
    if rst then return "Reject" end
    if syn and ack then return "Accept" end
    if syn and ctx.offer then return "Offer" end
    if syn then return "Request" end
    if fin then return "Close" end
    local only_rcpt = ctx.n_rcpt > 0 and ctx.n_bee + ctx.n_order + ctx.n_fill + ctx.n_sig == 0
    if has_records and not only_rcpt then return "Data" end
    if ctx.schedule then return "Schedule" end
    if ack then return "Ack" end
    return "Segment"
end

local function dissect_tcp(tvb, pinfo, tree, eip_energy_type, eip_flags)
    local len = tvb:len()
    local t = tree:add(p_tcp, tvb:range(0, len))
    pinfo.cols.protocol = "Energy-TCP"
    local ok = add_fields(t, t, tvb, 0, {
        { ft.srcport, 0, 2, post = name_port }, { ft.dstport, 2, 2, post = name_port }, { ft.seq, 4, 4 }, { ft.ack, 8, 4 },
        { ft.hdr_len, 12, 1 }, { ft.reserved, 12, 1 },
        { ft.flags, 13, 1, { ft.flag_fin, ft.flag_syn, ft.flag_rst, ft.flag_psh, ft.flag_ack, ft.flag_urg,
            ft.flag_wup, ft.flag_rsvd } },
    }, "Energy-TCP header")
    if not ok then
        pinfo.cols.info = "Energy-TCP [truncated header]"
        return
    end
    local sport, dport = tvb:range(0, 2):uint(), tvb:range(2, 2):uint()
    local sn, dn = port_name(sport), port_name(dport)
    local seq, ackn = tvb:range(4, 4):uint(), tvb:range(8, 4):uint()
    local doff = math.floor(tvb:range(12, 1):uint() / 16)
    local flags = tvb:range(13, 1):uint()
    local hp = t:add(ft.port, tvb:range(0, 2)); hp:set_hidden()
    hp = t:add(ft.port, tvb:range(2, 2)); hp:set_hidden()
    if tvb:range(12, 1):uint() % 16 ~= 0 then t:add_proto_expert_info(ex.reserved, "Reserved bits after data offset") end
    if flags >= 0x80 then t:add_proto_expert_info(ex.reserved, "Reserved flag 0x80 set (R6.2)") end
    if not fits(tvb, 14, 10) then
        t:add_proto_expert_info(ex.truncated, string.format(
            "Energy-TCP header truncated: %d bytes available, 24 needed", len))
        pinfo.cols.info = "Energy-TCP [truncated header]"
        return
    end
    -- checksum (R6.3): pseudo-header + whole segment; only when the whole segment was captured
    local calc = nil
    local reported = tvb:reported_length_remaining(0)
    if reported == len then
        local ps = tcp_pseudo_sum(len)
        if ps then calc = fold(ones_sum(tvb, 0, len, 14, ps)) end
    end
    local ck = add_checksum(t, ft.checksum, ft.checksum_status, ft.checksum_calc, tvb, 14, calc, "Energy-TCP")
    t:add(ft.window, tvb:range(16, 4))
    local window = tvb:range(16, 4):uint()
    local urg = tvb:range(20, 2):uint()
    local ui = t:add(ft.urgent, tvb:range(20, 2))
    if urg ~= 0 then ui:append_text(" (" .. name_of(EMERGENCY_CODES, urg) .. ")") end
    local r2 = t:add(ft.reserved2, tvb:range(22, 2))
    if tvb:range(22, 2):uint() ~= 0 then r2:add_proto_expert_info(ex.reserved) end
    t:append_text(string.format(", Src Port: %d%s, Dst Port: %d%s, Seq: %d, Ack: %d, Wnd: %d, Flags: [%s]",
        sport, sn and (" (" .. sn .. ")") or "", dport, dn and (" (" .. dn .. ")") or "", seq, ackn, window,
        flag_string(flags)))
    if doff < 6 then
        t:add_proto_expert_info(ex.malformed, string.format("Data offset %d is below 6 (R6.1)", doff))
        pinfo.cols.info = "Energy-TCP [bad data offset]"
        return
    end
    if doff * 4 > len then
        t:add_proto_expert_info(ex.truncated, string.format(
            "Header with options (%d bytes) does not fit in the segment (%d bytes) (R6.1)", doff * 4, len))
        pinfo.cols.info = "Energy-TCP [truncated options]"
        return
    end
    local ctx = { n_bee = 0, n_order = 0, n_fill = 0, n_sig = 0, n_rcpt = 0, units = 0, bee_qty = 0,
        bee_types = {}, n_request = 0, seq = seq, ack = ackn }
    local good = true
    if doff > 6 then good = dissect_options(tvb, t, 24, doff * 4, ctx) end
    local has_records = len > doff * 4
    if good and has_records then good = dissect_records(tvb, tree, doff * 4, ctx) end

    local n_rec = ctx.n_bee + ctx.n_order + ctx.n_fill + ctx.n_sig + ctx.n_rcpt
    local cls = classify(flags, ctx, has_records)
    local urgent = has(flags, 0x20)
    if urgent then cls = "Emergency " .. cls end
    t:add(ft.message, cls):set_generated()
    if has_records then
        t:add(ft.records, n_rec):set_generated()
        t:add(ft.bee_units, ctx.units):set_generated()
    end
    -- rule checks (warnings only)
    if urg ~= 0 and not urgent then ui:add_proto_expert_info(ex.violation, "Urgent field set without URG (R6.6)") end
    if urgent then
        ui:add_proto_expert_info(ex.emergency, "Emergency: " .. name_of(EMERGENCY_CODES, urg))
    end
    if has(flags, 0x02) and ctx.n_request ~= 1 then
        t:add_proto_expert_info(ex.violation, "A SYN must carry exactly one request or offer option (R6.9)")
    end
    if has_records and (has(flags, 0x02) or has(flags, 0x04) or has(flags, 0x40)) then
        t:add_proto_expert_info(ex.violation, "SYN, RST and WUP segments must not carry records (R6.7)")
    end
    if has(flags, 0x40) and not has(eip_flags, 0x01) then
        t:add_proto_expert_info(ex.violation, "Window update without the Energy-IP ISP flag (R6.10)")
    end
    if good and has_records then
        local single = nil
        local n_types = 0
        for bt, _ in pairs(ctx.bee_types) do single = bt; n_types = n_types + 1 end
        local expected = 0
        if n_types == 1 then expected = single end  -- orders, fills, SIG and RCPT do not count (R4.3)
        if eip_energy_type ~= expected then
            t:add_proto_expert_info(ex.violation, string.format(
                "Energy-IP energy type %d, records call for %d (R4.3)", eip_energy_type, expected))
        end
    end

    -- Info column
    local info
    if cls:find("Window update") then
        info = string.format("Window update wnd=%d", window)
    elseif cls:find("Request") or cls:find("Accept") or cls:find("Offer") then
        local what = ctx.request or "(no request or offer option)"
        if ctx.offer and not cls:find("Offer") then what = "offer " .. what end
        info = string.format("%s %s", cls, what)
    elseif cls:find("Reject") then
        info = string.format("%s %s", cls, ctx.reject or "(no reject option)")
    elseif cls:find("Data") then
        local parts = {}
        if ctx.n_bee > 0 then
            local unit = ""
            if ctx.bee_type_last and BEE_UNITS[ctx.bee_type_last] then unit = " " .. BEE_UNITS[ctx.bee_type_last] end
            local bt = name_of(BEE_TYPES, ctx.bee_type_last or -1)
            local ntypes = 0
            for _ in pairs(ctx.bee_types) do ntypes = ntypes + 1 end
            if ntypes > 1 then bt = "mixed"; unit = "" end
            parts[#parts + 1] = string.format("%d BEE (%d%s %s)", ctx.n_bee, ctx.bee_qty, unit, bt)
        end
        if ctx.n_order + ctx.n_fill > 0 and ctx.summary then parts[#parts + 1] = ctx.summary end
        if ctx.n_order > 1 then parts[#parts + 1] = string.format("%d orders", ctx.n_order) end
        if ctx.n_fill > 1 then parts[#parts + 1] = string.format("%d fills", ctx.n_fill) end
        if #parts == 0 then parts[1] = "malformed records" end
        info = string.format("%s seq=%d %s", cls, seq, table.concat(parts, ", "))
        if ctx.sig then info = info .. " " .. ctx.sig end
    elseif cls:find("Close") then
        info = string.format("%s seq=%d ack=%d", cls, seq, ackn)
    elseif cls:find("Schedule") then
        info = string.format("%s %s", cls, ctx.schedule)
    else
        info = string.format("%s ack=%d wnd=%d", cls, ackn, window)
    end
    if ctx.rcpt then info = info .. " " .. ctx.rcpt end
    if urgent then info = info .. " [" .. name_of(EMERGENCY_CODES, urg) .. "]" end
    if not good then info = info .. " [malformed]" end
    if ck == false then info = info .. " [bad checksum]" end
    pinfo.cols.info = string.format("%d → %d %s", sport, dport, info)
end

---------------------------------------------------------------------------------------------------
-- Energy-IP header (section 4); `quoted` = inside a control-message quote (no dispatch, no columns)
---------------------------------------------------------------------------------------------------
-- Returns header length in bytes (or nil on error), next header, energy type, flags.
local function dissect_eip_header(tvb, tree, off, quoted)
    local avail = tvb:len() - off
    local t = tree:add(p_eip, tvb:range(off, math.min(avail, 24)))
    if quoted then t:append_text(" (quoted)") end
    local ok = add_fields(t, t, tvb, off, {
        { fe.version, 0, 1 }, { fe.hlen, 0, 1 }, { fe.energy_type, 1, 1 },
        { fe.flags, 2, 1, { fe.flag_isp, fe.flag_lim, fe.flag_mov, fe.flag_rsvd } },
        { fe.next_header, 3, 1 }, { fe.origin_mac, 4, 6 },
    }, "Energy-IP header")
    if not ok then return nil end
    if not fits(tvb, off + 10, 14) then
        if not quoted or avail > 10 then
            t:add_proto_expert_info(ex.truncated, string.format(
                "Energy-IP header truncated: %d bytes available, 24 needed", avail))
        end
        return nil
    end
    local version = math.floor(tvb:range(off, 1):uint() / 16)
    local hlen = tvb:range(off, 1):uint() % 16
    local etype = tvb:range(off + 1, 1):uint()
    local flags = tvb:range(off + 2, 1):uint()
    local nh = tvb:range(off + 3, 1):uint()
    local hbytes = hlen * 4
    local calc = nil
    local bad_len = hlen < 6 or hbytes > avail
    if not bad_len and (quoted or tvb:reported_length_remaining(off) >= hbytes) then
        calc = fold(ones_sum(tvb, off, hbytes, 10))
    end
    local ck = add_checksum(t, fe.checksum, fe.checksum_status, fe.checksum_calc, tvb, off + 10, calc,
        "Energy-IP header")
    t:add(fe.node_id, tvb:range(off + 12, 4))
    t:add(fe.period, tvb:range(off + 16, 4))
    local sl = tvb:range(off + 20, 4):uint()
    local sli = t:add(fe.static_limit, tvb:range(off + 20, 4))
    if sl == NO_LIMIT then sli:append_text(" (none known)") end
    t:append_text(string.format(", Origin: %s, %s, Limit: %s", tostring(tvb:range(off + 4, 6):ether()),
        name_of(ENERGY_TYPES, etype), sl == NO_LIMIT and "none" or tostring(sl)))
    if version ~= 1 then
        t:add_proto_expert_info(ex.unknown, string.format("Version %d, only 1 is defined (R4.1)", version))
        return nil
    end
    if hlen < 6 then
        t:add_proto_expert_info(ex.malformed, string.format("Header length %d words is below 6 (R4.2)", hlen))
        return nil
    end
    if hbytes > avail then
        t:add_proto_expert_info(ex.truncated, string.format(
            "Header length %d bytes does not fit in %d bytes (R4.2)", hbytes, avail))
        return nil
    end
    if hbytes > 24 then
        t:set_len(hbytes)
        t:add(fe.options, tvb:range(off + 24, hbytes - 24))
    end
    if flags >= 8 then t:add_proto_expert_info(ex.reserved, "Reserved Energy-IP flag bits set (R4.4)") end
    if not ENERGY_TYPES[etype] then
        t:add_proto_expert_info(ex.violation, string.format("Energy type %d not in registry 9.1 (R4.3)", etype))
    end
    return hbytes, nh, etype, flags, ck
end

---------------------------------------------------------------------------------------------------
-- Energy-IP control messages (section 5)
---------------------------------------------------------------------------------------------------
local function dissect_quote(tvb, tree, off)
    local qlen = tvb:len() - off
    if qlen <= 0 then
        tree:add_proto_expert_info(ex.violation, "No quoted packet (R5.4)")
        return
    end
    local q = tree:add(fc.quote, tvb:range(off, qlen))
    q:set_text(string.format("Quoted packet (%d bytes)", qlen))
    local ok = add_fields(q, q, tvb, off, {
        { fc.q_version, 0, 1 }, { fc.q_ihl, 0, 1 }, { fc.q_dscp, 1, 1 }, { fc.q_len, 2, 2 },
        { fc.q_id, 4, 2 }, { fc.q_ttl, 8, 1 }, { fc.q_proto, 9, 1 }, { fc.q_src, 12, 4 },
        { fc.q_dst, 16, 4 },
    }, "Quoted IPv4 header")
    if not ok then return end
    local ihl = (tvb:range(off, 1):uint() % 16) * 4
    q:append_text(string.format(": %s → %s", tostring(tvb:range(off + 12, 4):ipv4()),
        tostring(tvb:range(off + 16, 4):ipv4())))
    if ihl < 20 or off + ihl > tvb:len() then
        q:add_proto_expert_info(ex.malformed, "Quoted IPv4 header length invalid")
        return
    end
    if tvb:range(off + 9, 1):uint() ~= IP_PROTO_ENERGY then
        q:add_proto_expert_info(ex.violation, "Quoted packet is not IPv4 protocol 253")
        return
    end
    local eoff = off + ihl
    if eoff >= tvb:len() then
        q:add_proto_expert_info(ex.violation, "Quote lacks the Energy-IP header (R5.4)")
        return
    end
    local hbytes, nh = dissect_eip_header(tvb, q, eoff, true)
    if not hbytes then return end
    local toff = eoff + hbytes
    local trem = tvb:len() - toff
    if trem <= 0 then return end
    if nh == 6 and trem >= 4 then
        local tt = q:add(p_tcp, tvb:range(toff, trem))
        tt:append_text(" (quoted)")
        name_port(tt:add(ft.srcport, tvb:range(toff, 2)), tvb:range(toff, 2))
        name_port(tt:add(ft.dstport, tvb:range(toff + 2, 2)), tvb:range(toff + 2, 2))
        if trem >= 8 then tt:add(ft.seq, tvb:range(toff + 4, 4)) end
        if trem > 8 then
            local x = tt:add(fc.q_transport, tvb:range(toff + 8, trem - 8))
            x:add_proto_expert_info(ex.violation, string.format(
                "Quote holds %d transport bytes, at most 8 (R5.4)", trem))
        end
    else
        q:add(fc.q_transport, tvb:range(toff, trem))
    end
end


-- Bytes after a control body of fixed length: shown, and flagged as malformed citing the rule.
local function extra_body(t, tvb, len, body_len, what, rule)
    if len > 8 + body_len then
        local x = t:add(fc.extra, tvb:range(8 + body_len, len - 8 - body_len))
        x:add_proto_expert_info(ex.malformed, string.format("%s body is %d bytes, must be %d (%s)", what,
            len - 8, body_len, rule))
    end
end

-- The control messages with one fixed-length body (R5.3, R5.7, R5.8): their fields, names and Info
-- text (u, i: the u32 / i32 at an offset of the control message).
local FIXED_BODIES = {
    [1] = { title = "Static-limit notice", short = "Static limit", body_len = 16, rule = "R5.3",
        fields = { { fc.period, 8, 4 }, { fc.period_s, 12, 4 }, { fc.export_limit, 16, 4 },
            { fc.import_limit, 20, 4 } },
        info = function(u) return string.format("Static limit period=%d (%ds) export=%d import=%d",
            u(8), u(12), u(16), u(20)) end },
    -- micro-currency per 1000 BEE = currency per kWh at 1 BEE = 1 Wh
    [4] = { title = "Price notice", short = "Price", body_len = 12, rule = "R5.7",
        fields = { { fc.period, 8, 4 }, { fc.buy_price, 12, 4 }, { fc.sell_price, 16, 4 } },
        info = function(u, i) return string.format("Price period=%d buy=%.3f sell=%.3f /kWh",
            u(8), i(12) / 1e6, i(16) / 1e6) end },
    -- the fee in currency units: usage x rate / 1000 micro-currency
    [5] = { title = "Service-fee bill", short = "Fee", body_len = 12, rule = "R5.8",
        fields = { { fc.period, 8, 4 }, { fc.usage, 12, 4 }, { fc.fee_rate, 16, 4 } },
        info = function(u) return string.format("Fee period=%d usage=%d BEE rate=%d fee=%.6f",
            u(8), u(12), u(16), u(12) * u(16) / 1e9) end },
}

local function dissect_control(tvb, pinfo, tree)
    local len = tvb:len()
    local t = tree:add(p_ctl, tvb:range(0, len))
    pinfo.cols.protocol = "Energy-Ctl"
    local ok = add_fields(t, t, tvb, 0, { { fc.type, 0, 1 } }, "Control header")
    if ok and not fits(tvb, 1, 1) then
        t:add_proto_expert_info(ex.truncated, "Control header truncated: 1 byte available, 8 needed")
        ok = false
    end
    if not ok then pinfo.cols.info = "Energy-IP control [truncated]"; return end
    local ctype = tvb:range(0, 1):uint()
    local code = tvb:range(1, 1):uint()
    local codes = CONTROL_CODES[ctype] or {}
    local ci = t:add(fc.code, tvb:range(1, 1))
    if codes[code] then ci:append_text(" (" .. codes[code] .. ")") end
    if codes[code] then t:append_text(", " .. name_of(CONTROL_TYPES, ctype) .. " (" .. codes[code] .. ")") end
    if not fits(tvb, 2, 6) then
        t:add_proto_expert_info(ex.truncated, string.format(
            "Control header truncated: %d bytes available, 8 needed", len))
        pinfo.cols.info = "Energy-IP control [truncated]"
        return
    end
    local calc = nil
    if tvb:reported_length_remaining(0) == len then calc = fold(ones_sum(tvb, 0, len, 2)) end
    local ck = add_checksum(t, fc.checksum, fc.checksum_status, fc.checksum_calc, tvb, 2, calc, "control message")
    local value = tvb:range(4, 4):uint()
    if ctype == 2 then
        t:add(fc.limit, tvb:range(4, 4))
    else
        local vi = t:add(fc.value, tvb:range(4, 4))
        if value ~= 0 then vi:add_proto_expert_info(ex.reserved) end
    end
    if not CONTROL_TYPES[ctype] then
        t:add_proto_expert_info(ex.unknown, string.format("Unknown control type %d (R5.1)", ctype))
        pinfo.cols.info = string.format("Energy-IP control type %d [unknown]", ctype)
        return
    end
    if not codes[code] then
        t:add_proto_expert_info(ex.unknown, string.format("Unknown code %d for %s (R5.1)", code, CONTROL_TYPES[ctype]))
    end
    local fixed = FIXED_BODIES[ctype]
    if fixed then
        local ok2 = add_fields(t, t, tvb, 0, fixed.fields, fixed.title)
        if not ok2 then pinfo.cols.info = fixed.short .. " [truncated]"; return end
        extra_body(t, tvb, len, fixed.body_len, fixed.short, fixed.rule)
        pinfo.cols.info = fixed.info(function(off) return tvb:range(off, 4):uint() end,
            function(off) return tvb:range(off, 4):int() end)
    else
        dissect_quote(tvb, t, 8)
        if ctype == 2 then
            pinfo.cols.info = string.format("Limit exceeded (%s) limit=%d", name_of(codes, code), value)
        else
            pinfo.cols.info = string.format("Unreachable (%s)", name_of(codes, code))
        end
    end
    if ck == false then pinfo.cols.info:append(" [bad checksum]") end
end

---------------------------------------------------------------------------------------------------
-- Entry point
---------------------------------------------------------------------------------------------------
local function dissect(tvb, pinfo, tree)
    pinfo.cols.protocol = "Energy-IP"
    pinfo.cols.info = "Energy-IP"
    local hbytes, nh, etype, flags, ck = dissect_eip_header(tvb, tree, 0, false)
    if not hbytes then
        pinfo.cols.info = "Energy-IP [malformed header]"
        return
    end
    local rest = tvb:len() - hbytes
    local sub = nil
    if rest > 0 then sub = tvb:range(hbytes, rest):tvb() end
    if nh == 1 then
        if not sub then
            tree:add_proto_expert_info(ex.truncated, "Control message missing")
            pinfo.cols.info = "Energy-IP control [missing]"
            return
        end
        dissect_control(sub, pinfo, tree)
    elseif nh == 6 then
        if not sub then
            tree:add_proto_expert_info(ex.truncated, "Energy-TCP segment missing")
            pinfo.cols.info = "Energy-TCP [missing]"
            return
        end
        dissect_tcp(sub, pinfo, tree, etype, flags)
    else
        if sub then tree:add(fe.payload, sub:range(0, rest)) end
        tree:add_proto_expert_info(ex.unknown, string.format("Unknown next header %d (R4.5)", nh))
        pinfo.cols.info = string.format("Energy-IP next header %d [unknown]", nh)
    end
    if ck == false then pinfo.cols.info:append(" [bad Energy-IP checksum]") end
end

function p_eip.dissector(tvb, pinfo, tree)
    local ok, err = pcall(dissect, tvb, pinfo, tree)
    if not ok then
        tree:add_proto_expert_info(ex.internal, "Dissector internal error: " .. tostring(err))
    end
    return tvb:len()
end

DissectorTable.get("ip.proto"):add(IP_PROTO_ENERGY, p_eip)
