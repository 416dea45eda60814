#include "valve.h"

#include <util/atomic.h>

#include "board.h"

static volatile uint16_t remaining;

void valve_init(void) {
  remaining = 0;
  board_valve(0);
}

void valve_open(uint16_t ms) {
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
    remaining = ms;
    board_valve(ms > 0);
  }
}

void valve_tick(void) {
  if (remaining == 0) return;
  if (--remaining == 0) board_valve(0);
}
