-- ifacetrace.lua: a Wireshark post-dissector for pcapng files written by
-- ifacetrace (https://github.com/ifacetrace/ifacetrace).
--
-- ifacetrace writes every copy of one packet (seen on several devices or
-- network namespaces) with the same epb_packetid (frame.packet_id), the
-- packet's trace id, and a packet comment
--
--     trace N hop i/n: PATH [CHANGES]
--
-- e.g. "trace 13 hop 2/5: c1/eth0 out → veth-c in → br0 in → up0 out →
-- o1/eth0 in [SNAT 10.200.1.2→10.200.2.1]". This script turns both into
-- fields under "ifacetrace" that can be filtered on and used as columns:
--
--   ifacetrace.trace        uint64   trace id (frame.packet_id, else the comment)
--   ifacetrace.hop          uint16   i: this copy's place on the path, from 1
--   ifacetrace.hops         uint16   n: copies of the packet on its path
--   ifacetrace.path         string   PATH
--   ifacetrace.changes      string   CHANGES without brackets, "" if none
--   ifacetrace.first        bool     present (true) only on hop 1
--   ifacetrace.copy         bool     present (true) only on hops > 1, with an
--                                    expert note; filter "!ifacetrace.copy"
--   ifacetrace.since_first  relative time since the trace's earliest copy
--
-- ifacetrace.first and ifacetrace.copy are added only when true: in display
-- filters a bare field name tests for presence, so "!ifacetrace.copy" keeps
-- first copies (and frames of other files) only because copies alone carry
-- the field.
--
-- Load it with "wireshark -X lua_script:ifacetrace.lua file.pcapng" or
-- copy it into ~/.local/lib/wireshark/plugins/ (see README.md).

local ifacetrace = Proto("ifacetrace", "ifacetrace packet trace")

local pf = {
    trace = ProtoField.uint64("ifacetrace.trace", "Trace", base.DEC, nil, nil,
        "Trace id: the same on every copy of one packet (epb_packetid)"),
    hop = ProtoField.uint16("ifacetrace.hop", "Hop", base.DEC, nil, nil,
        "This copy's place on the packet's path, from 1"),
    hops = ProtoField.uint16("ifacetrace.hops", "Hops", base.DEC, nil, nil,
        "Copies of the packet on its path"),
    path = ProtoField.string("ifacetrace.path", "Path", base.UNICODE,
        "Devices the packet passed, in order, with directions"),
    changes = ProtoField.string("ifacetrace.changes", "Changes", base.UNICODE,
        "What changed along the path (NAT, TTL ...); empty if nothing"),
    first = ProtoField.bool("ifacetrace.first", "First copy", base.NONE, nil, nil,
        "Hop 1 of its trace; present only on first copies"),
    copy = ProtoField.bool("ifacetrace.copy", "Later copy", base.NONE, nil, nil,
        "A later copy of a packet already seen at hop 1; present only on later copies"),
    since_first = ProtoField.relative_time("ifacetrace.since_first", "Time since first copy",
        "Time since the earliest copy of this trace seen so far"),
}
ifacetrace.fields = { pf.trace, pf.hop, pf.hops, pf.path, pf.changes, pf.first, pf.copy, pf.since_first }

local ex = {
    copy = ProtoExpert.new("ifacetrace.copy.expert", "Later copy of the same packet",
        expert.group.SEQUENCE, expert.severity.NOTE),
    mismatch = ProtoExpert.new("ifacetrace.mismatch", "Packet id and comment name different traces",
        expert.group.MALFORMED, expert.severity.WARN),
}
ifacetrace.experts = { ex.copy, ex.mismatch }

local f_packet_id = Field.new("frame.packet_id")
local f_comment = Field.new("frame.comment")
local f_time = Field.new("frame.time")

-- earliest[trace id as decimal string] is the earliest capture time (NSTime)
-- of a copy of that trace dissected since the file was opened.
local earliest = {}

function ifacetrace.init()
    earliest = {}
end

-- u64 converts a string of at most 20 decimal digits to a UInt64, nil if it
-- does not fit. (Lua 5.2 numbers are doubles: exact only up to 2^53.)
local function u64(digits)
    if #digits > 20 then
        return nil
    end
    local v = UInt64(0)
    local limit = UInt64.max() / 10
    for i = 1, #digits do
        local d = digits:byte(i) - 48
        if v > limit or (v == limit and d > 5) then
            return nil
        end
        v = v * 10 + d
    end
    return v
end

-- parse returns what an ifacetrace packet comment says, or nil if comment is
-- not one.
local function parse(comment)
    local id, hop, hops, rest = comment:match("^trace (%d+) hop (%d+)/(%d+): (.*)$")
    if not id then
        return nil
    end
    hop, hops = tonumber(hop), tonumber(hops)
    local trace = u64(id)
    if not trace or hop < 1 or hop > 65535 or hops < 1 or hops > 65535 then
        return nil
    end
    local path, changes = rest:match("^(.-) %[(.*)%]$")
    if not path then
        path, changes = rest, ""
    end
    return { trace = trace, hop = hop, hops = hops, path = path, changes = changes }
end

function ifacetrace.dissector(tvb, pinfo, tree)
    local pid = f_packet_id()
    local c
    for _, fi in ipairs({ f_comment() }) do
        c = parse(fi.value)
        if c then
            break
        end
    end
    if not pid and not c then
        return
    end
    local trace = pid and pid.value or c.trace
    local key = tostring(trace)

    local since
    local t = f_time()
    if t then
        local now = t.value
        local first = earliest[key]
        if not first or now < first then
            first = now
            earliest[key] = now
        end
        since = now - first
    end

    local label = "ifacetrace: trace " .. key
    if c then
        label = label .. string.format(" hop %d/%d", c.hop, c.hops)
    end
    local sub = tree:add(ifacetrace, tvb(0, 0), label)
    sub:add(pf.trace, trace):set_generated()
    if c then
        if pid and tostring(c.trace) ~= key then
            sub:add_proto_expert_info(ex.mismatch, string.format(
                "packet id %s, but the comment names trace %s", key, tostring(c.trace)))
        end
        sub:add(pf.hop, c.hop):set_generated()
        sub:add(pf.hops, c.hops):set_generated()
        sub:add(pf.path, c.path):set_generated()
        sub:add(pf.changes, c.changes):set_generated()
        if c.hop == 1 then
            sub:add(pf.first, true):set_generated()
        else
            local item = sub:add(pf.copy, true)
            item:set_generated()
            item:add_proto_expert_info(ex.copy, string.format(
                "later copy of the same packet (trace %s, hop %d/%d)", key, c.hop, c.hops))
        end
    end
    if since then
        sub:add(pf.since_first, since):set_generated()
    end
end

register_postdissector(ifacetrace)
