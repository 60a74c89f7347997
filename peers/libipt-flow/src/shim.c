// SPDX-License-Identifier: Apache-2.0 OR MIT
// Test-only shim over Debian's libipt 2.0.5: runs the query decoder and the instruction
// flow decoder over a trace and hands back flat records, so the Rust side never sees
// libipt's structs (unions with bitfields).
#include <intel-pt.h>
#include <stdint.h>
#include <string.h>

/* One thing the query decoder reported. */
struct flow_item {
	uint32_t what;   /* 0 event, 1 conditional branch, 2 indirect branch */
	uint32_t type;   /* enum pt_event_type for events */
	uint32_t flags;  /* bit 0 ip_suppressed, bit 1 status_update */
	uint32_t pad;
	uint64_t a, b, c;
};

/* Stores an item, or only counts it when out is NULL (for benchmarks). */
static int push(struct flow_item *out, size_t cap, size_t *n, struct flow_item it)
{
	if (out) {
		if (*n >= cap)
			return -pte_nomem;
		out[*n] = it;
	}
	(*n)++;
	return 0;
}

static struct flow_item from_event(const struct pt_event *ev)
{
	struct flow_item it;
	memset(&it, 0, sizeof(it));
	it.type = ev->type;
	it.flags = ev->ip_suppressed | (ev->status_update << 1);
	switch (ev->type) {
	case ptev_enabled: it.a = ev->variant.enabled.ip; break;
	case ptev_disabled: it.a = ev->variant.disabled.ip; break;
	case ptev_async_disabled:
		it.a = ev->variant.async_disabled.at;
		it.b = ev->variant.async_disabled.ip;
		break;
	case ptev_async_branch:
		it.a = ev->variant.async_branch.from;
		it.b = ev->variant.async_branch.to;
		break;
	case ptev_paging:
		it.a = ev->variant.paging.cr3;
		it.b = ev->variant.paging.non_root;
		break;
	case ptev_async_paging:
		it.a = ev->variant.async_paging.cr3;
		it.b = ev->variant.async_paging.non_root;
		it.c = ev->variant.async_paging.ip;
		break;
	case ptev_overflow: it.a = ev->variant.overflow.ip; break;
	case ptev_exec_mode:
		it.a = ev->variant.exec_mode.mode;
		it.b = ev->variant.exec_mode.ip;
		break;
	default: break;
	}
	return it;
}

/* Runs libipt's query decoder over buf[0..len): syncs to the first PSB, then drains
 * events whenever one is pending and otherwise asks for a conditional branch, falling
 * back to an indirect branch when libipt answers -pte_bad_query (the next query-relevant
 * packet is a TIP). Returns 0 at the end of the trace or a negative pt_error_code, with
 * *count items written (only counted when out is NULL) and *offset the decoder's offset
 * at the end. */
long flow_query(const uint8_t *buf, size_t len, struct flow_item *out, size_t cap,
		size_t *count, uint64_t *offset)
{
	struct pt_config config;
	struct pt_query_decoder *dec;
	int status, err = 0;

	*count = 0;
	pt_config_init(&config);
	config.begin = (uint8_t *)buf;
	config.end = (uint8_t *)buf + len;
	dec = pt_qry_alloc_decoder(&config);
	if (!dec)
		return -pte_nomem;

	uint64_t ip;
	status = pt_qry_sync_forward(dec, &ip);
	for (;;) {
		if (status < 0) {
			err = status == -pte_eos ? 0 : status;
			break;
		}
		if (status & pts_event_pending) {
			struct pt_event ev;
			status = pt_qry_event(dec, &ev, sizeof(ev));
			if (status >= 0 && push(out, cap, count, from_event(&ev)) < 0) {
				err = -pte_nomem;
				break;
			}
			continue;
		}
		int taken;
		status = pt_qry_cond_branch(dec, &taken);
		if (status >= 0) {
			struct flow_item it = { .what = 1, .a = (uint64_t)taken };
			if (push(out, cap, count, it) < 0) {
				err = -pte_nomem;
				break;
			}
			continue;
		}
		if (status != -pte_bad_query)
			continue;
		status = pt_qry_indirect_branch(dec, &ip);
		if (status >= 0) {
			struct flow_item it = { .what = 2, .flags = (status & pts_ip_suppressed) ? 1 : 0,
						.a = ip };
			if (push(out, cap, count, it) < 0) {
				err = -pte_nomem;
				break;
			}
		}
	}
	pt_qry_get_offset(dec, offset);
	pt_qry_free_decoder(dec);
	return err;
}

struct code_image {
	const uint8_t *bytes;
	size_t len;
	uint64_t base;
};

static int read_code(uint8_t *buffer, size_t size, const struct pt_asid *asid, uint64_t ip,
		     void *context)
{
	const struct code_image *code = context;
	(void)asid;
	if (ip < code->base || ip - code->base >= code->len)
		return -pte_nomap;
	size_t off = ip - code->base, n = code->len - off;
	if (n > size)
		n = size;
	memcpy(buffer, code->bytes + off, n);
	return (int)n;
}

/* Runs libipt's instruction flow decoder over the trace with a code image of `code_len`
 * bytes at `code_base` (read through pt_image_set_callback). Writes the IP of every
 * instruction into ips (at most cap) and the count of enable/disable events into
 * *enables / *disables. Returns 0 at the end of the trace or a negative pt_error_code;
 * *count is the number of instructions, *offset the decoder's offset at the end. */
long flow_insn(const uint8_t *buf, size_t len, const uint8_t *code, size_t code_len,
	       uint64_t code_base, uint64_t *ips, size_t cap, size_t *count, uint64_t *offset,
	       uint64_t *events)
{
	struct pt_config config;
	struct pt_insn_decoder *dec;
	struct code_image image = { code, code_len, code_base };
	int status, err = 0;

	*count = 0;
	*events = 0;
	pt_config_init(&config);
	config.begin = (uint8_t *)buf;
	config.end = (uint8_t *)buf + len;
	dec = pt_insn_alloc_decoder(&config);
	if (!dec)
		return -pte_nomem;
	status = pt_image_set_callback(pt_insn_get_image(dec), read_code, &image);
	if (status >= 0)
		status = pt_insn_sync_forward(dec);
	for (;;) {
		if (status < 0) {
			err = status == -pte_eos ? 0 : status;
			break;
		}
		if (status & pts_event_pending) {
			struct pt_event ev;
			status = pt_insn_event(dec, &ev, sizeof(ev));
			if (status >= 0)
				(*events)++;
			continue;
		}
		if (status & pts_eos) {
			err = 0;
			break;
		}
		struct pt_insn insn;
		status = pt_insn_next(dec, &insn, sizeof(insn));
		if (status < 0)
			continue;
		if (*count >= cap) {
			err = -pte_nomem;
			break;
		}
		ips[(*count)++] = insn.ip;
	}
	pt_insn_get_offset(dec, offset);
	pt_insn_free_decoder(dec);
	return err;
}

const char *flow_errstr(long code)
{
	return pt_errstr(pt_errcode((int)code));
}
