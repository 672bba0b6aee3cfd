/*
 * crawler.h - what the engine (dht.c) and the crawler (crawler.c) of libbtdht call of each other.
 * Internal.
 *
 * The crawler sends its own queries through bt_dht__query(), under the engine's query and byte
 * budgets, and sees every reply in full.  The engine tells an attached crawler of every node it
 * hears from, of infohashes other nodes ask for or announce, and lets it run on every tick.
 */
#ifndef BT_DHT_CRAWLER_H
#define BT_DHT_CRAWLER_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "btdht.h"
#include "id.h"
#include "krpc.h"

/* The outcome of bt_dht__query(): @r is the reply or a KRPC error message (r->kind tells), or
 * NULL after the last try timed out.  @to is the node asked.  Runs inside bt_dht_input() or
 * bt_dht_tick(); may send queries. */
typedef void (*bt_dht__raw_cb)(bt_dht *d, const bt_addr *to, const bt_dht__krpc_msg *r, void *ud,
                               uint64_t now);

/* Sends a find_node or sample_infohashes (@arg: target) or get_peers (@arg: info_hash) to @to,
 * whose id is not checked against the reply's.  Returns 0, BT_DHT_E_LIMIT (budget, pending
 * table full, send error) or BT_DHT_E_INVAL. */
int bt_dht__query(bt_dht *d, const bt_addr *to, bt_dht__krpc_method method, const bt_id *arg,
                  bt_dht__raw_cb cb, void *ud, uint64_t now);

/* Whether the query budget has a query to spend now, and if not in how many ms it will. */
bool bt_dht__can_query(bt_dht *d, uint64_t now);
unsigned bt_dht__query_wait(const bt_dht *d, uint64_t now);

/* Attach @c (NULL: detach).  BT_DHT_E_LIMIT if another crawler is attached. */
int bt_dht__attach(bt_dht *d, bt_dht_crawler *c);

bt_dht_crawler *bt_dht__crawler(const bt_dht *d);
const bt_id *bt_dht__id(const bt_dht *d);
unsigned bt_dht__max_qps(const bt_dht *d);
uint64_t bt_dht__last_now(const bt_dht *d);           /* the time of the latest input or tick */
bool bt_dht__runs(const bt_dht *d, const bt_addr *a); /* a family the node runs */
uint64_t bt_dht__rand(bt_dht *d);

/* Called by the engine. */
void bt_dht__crawler_heard(bt_dht_crawler *c, const bt_id *id, const bt_addr *a, uint64_t now);
void bt_dht__crawler_infohash(bt_dht_crawler *c, const bt_id *ih, bt_dht_source src,
                              const bt_addr *from, const bt_addr *peer);
unsigned bt_dht__crawler_tick(bt_dht_crawler *c, uint64_t now);
/* Every query the node sends, and whether a lookup may ask @a now (node_gap_ms). */
void bt_dht__crawler_sent(bt_dht_crawler *c, const bt_addr *a, uint64_t now);
bool bt_dht__crawler_may_ask(bt_dht_crawler *c, const bt_addr *a, uint64_t now);
void bt_dht__crawler_detach(bt_dht_crawler *c); /* the node is being freed */

#endif
