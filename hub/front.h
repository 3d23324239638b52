/*
 * hub/front.h: `warden hub tls`, the TLS front end of the lab hub.
 *
 * Mosquitto checks client certificates during the handshake, before its
 * plugin hears of the connection, so an expired or unknown device
 * certificate would never reach the plugin. The front end terminates TLS
 * itself, accepting any certificate, and forwards each connection to the
 * broker's plain listener with the CONNECT's password replaced by a signed
 * attestation of what it saw (hub/mqttconn.h). It decides nothing: the
 * plugin accepts, refuses and records.
 */
#ifndef WARDEN_BROKER_FRONT_H
#define WARDEN_BROKER_FRONT_H

#include "../common/common.h"

/*
 * Runs the front end on cfg (hub.tls.*, hub.keystore, mqtt.host/port) until
 * SIGTERM or SIGINT. Returns the exit status: 0 after a signal, 1 when it
 * cannot listen, 2 for a configuration it cannot use.
 */
int front_main(const struct config *cfg);

#endif
