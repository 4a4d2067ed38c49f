/*  paperbus — the common library every service links.

    The shape of it:
      pb_config    settings from PAPERBUS_* environment variables, validated
      pb_log       one line per event on stderr
      pb_service   process life: start, signals, clean exit
      pb_error     the error codes of proto/errors.def
      pb_codec     msgpack messages decoded against schemas, with limits
      pb_db        PostgreSQL: reconnect, parameters, retried transactions
      pb_migrate   deploy/migrations applied once each
      pb_eventlog  the event log: append in commit order, read after a cursor
      pb_clock     the wall-clock time, which tests can set
*/
#ifndef PAPERBUS_H
#define PAPERBUS_H

#include "pb_config.h"
#include "pb_log.h"
#include "pb_service.h"
#include "pb_error.h"
#include "pb_codec.h"
#include "pb_db.h"
#include "pb_migrate.h"
#include "pb_eventlog.h"
#include "pb_proto.h"
#include "pb_bus.h"
#include "pb_client.h"
#include "pb_worker.h"
#include "pb_pubsub.h"
#include "pb_clock.h"

#endif
