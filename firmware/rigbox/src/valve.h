// The reward valve: open for a number of milliseconds, closed by the clock tick.
#ifndef RIGBOX_VALVE_H
#define RIGBOX_VALVE_H

#include <stdint.h>

void valve_init(void);
/** Opens the valve for `ms` (0 closes it now); a reward while open replaces the remaining time. */
void valve_open(uint16_t ms);
/** Called by the clock tick (interrupt context). */
void valve_tick(void);

#endif
