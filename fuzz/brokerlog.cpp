// lcBroker for sotto_fuzz_store, which takes store.cpp without broker.cpp (where it is defined).
#include "broker/log.h"

Q_LOGGING_CATEGORY(lcBroker, "sotto.broker")
