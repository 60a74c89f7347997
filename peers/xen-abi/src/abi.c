/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* The C compiler's view of <xen/hvm/ioreq.h> (libxen-dev), for the Rust ABI test. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xen/hvm/ioreq.h>

/* offsetof() cannot take a bitfield: the byte that holds state, data_is_ptr, dir and df
 * is found by setting them all in a zeroed ioreq_t and looking for the changed byte
 * (the first, or sizeof(ioreq_t) if none or several changed). */
static uint64_t xen_ioreq_bitfield_byte(void)
{
    ioreq_t r;
    const uint8_t *bytes = (const uint8_t *)&r;
    uint64_t found = sizeof(r);
    size_t i, changed = 0;
    memset(&r, 0, sizeof(r));
    r.state = 0xf;
    r.data_is_ptr = 1;
    r.dir = 1;
    r.df = 1;
    for (i = 0; i < sizeof(r); i++) {
        if (bytes[i] != 0) {
            found = changed++ == 0 ? i : sizeof(r);
        }
    }
    return found;
}

/* Writes sizes, offsets and constants, in the order of `layout()` in src/lib.rs, to
 * out[0 .. cap); returns how many there are. */
size_t xen_abi_layout(uint64_t *out, size_t cap)
{
    const uint64_t values[] = {
        sizeof(ioreq_t), _Alignof(ioreq_t),
        offsetof(ioreq_t, addr), offsetof(ioreq_t, data), offsetof(ioreq_t, count),
        offsetof(ioreq_t, size), offsetof(ioreq_t, vp_eport), offsetof(ioreq_t, _pad0),
        xen_ioreq_bitfield_byte(), offsetof(ioreq_t, type),
        sizeof(buf_ioreq_t), sizeof(buffered_iopage_t),
        offsetof(buffered_iopage_t, read_pointer), offsetof(buffered_iopage_t, write_pointer),
        offsetof(buffered_iopage_t, buf_ioreq),
        IOREQ_BUFFER_SLOT_NUM, IOREQ_READ, IOREQ_WRITE,
        STATE_IOREQ_NONE, STATE_IOREQ_READY, STATE_IOREQ_INPROCESS, STATE_IORESP_READY,
        IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG, IOREQ_TYPE_TIMEOFFSET,
        IOREQ_TYPE_INVALIDATE,
    };
    const size_t len = sizeof(values) / sizeof(values[0]);
    memcpy(out, values, (len < cap ? len : cap) * sizeof(values[0]));
    return len;
}

/* Builds an ioreq_t through the C bitfields and returns its bytes. */
void xen_ioreq_image(uint64_t addr, uint64_t data, uint32_t count, uint32_t size,
                     uint32_t port, uint8_t state, uint8_t data_is_ptr, uint8_t dir,
                     uint8_t df, uint8_t type, uint8_t out[32])
{
    ioreq_t r;
    memset(&r, 0, sizeof(r));
    r.addr = addr;
    r.data = data;
    r.count = count;
    r.size = size;
    r.vp_eport = port;
    r.state = state;
    r.data_is_ptr = data_is_ptr;
    r.dir = dir;
    r.df = df;
    r.type = type;
    memcpy(out, &r, sizeof(r));
}

/* Reads the bitfields of ioreq_t bytes: state, data_is_ptr, dir, df, type. */
void xen_ioreq_bits(const uint8_t in[32], uint8_t out[5])
{
    ioreq_t r;
    memcpy(&r, in, sizeof(r));
    out[0] = r.state;
    out[1] = r.data_is_ptr;
    out[2] = r.dir;
    out[3] = r.df;
    out[4] = r.type;
}

/* Builds a buf_ioreq_t through the C bitfields and returns its 8 bytes as a u64. */
uint64_t xen_buf_ioreq_image(uint8_t type, uint8_t dir, uint8_t size, uint32_t addr,
                             uint32_t data)
{
    buf_ioreq_t b;
    uint64_t out;
    memset(&b, 0, sizeof(b));
    b.type = type;
    b.dir = dir;
    b.size = size;
    b.addr = addr;
    b.data = data;
    memcpy(&out, &b, sizeof(out));
    return out;
}
