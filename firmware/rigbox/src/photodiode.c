#include "photodiode.h"

#include "board.h"

static uint16_t to_counts(uint16_t mv) { return (uint16_t)(((uint32_t)mv * 1023u + ADC_VREF_MV - 1) / ADC_VREF_MV); }

// 2.5 V on, 1.5 V off until the host sends PDTHR.
static uint16_t on_counts = 512, off_counts = 307;
static int8_t state = -1;

void photodiode_set(uint16_t on_mv, uint16_t off_mv) {
  on_counts = to_counts(on_mv);
  off_counts = to_counts(off_mv);
}

int8_t photodiode_update(uint16_t counts) {
  if (state < 0) {
    state = counts >= on_counts;
    return state;
  }
  if (state == 0 && counts >= on_counts) return state = 1;
  if (state == 1 && counts < off_counts) return state = 0;
  return -1;
}

int8_t photodiode_state(void) { return state; }
