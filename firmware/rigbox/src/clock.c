#include "clock.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#include "protocol.h"
#include "sampler.h"
#include "valve.h"

static volatile uint32_t ticks;

void clock_init(void) {
  TCCR1A = 0;
  TCCR1B = _BV(WGM12) | _BV(CS11);  // CTC on OCR1A, clk/8: 2 MHz
  OCR1A = (uint16_t)(F_CPU / 8 / SAMPLE_HZ - 1);
  TIMSK1 = _BV(OCIE1A);
}

uint32_t clock_ms(void) {
  uint32_t t;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { t = ticks; }
  return t;
}

ISR(TIMER1_COMPA_vect) {
  uint32_t t = ticks + 1;
  ticks = t;
  valve_tick();
  sampler_start(t);
}
