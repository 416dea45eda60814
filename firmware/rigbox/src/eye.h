// Eye position: the calibration map from the two eye inputs to degrees of visual angle, the fixation window,
// and the fixation state decided on every sample. Integer arithmetic (centidegrees) so a sample costs a few
// hundred cycles.
#ifndef RIGBOX_EYE_H
#define RIGBOX_EYE_H

#include <stdint.h>

#define EYE_GAIN_MAX 400.0f     // degrees per volt
#define EYE_OFFSET_MAX 1000.0f  // degrees

/**
 * Sets the affine map x = c0 u + c1 v + c2, y = c3 u + c4 v + c5 (u, v: the X and Y inputs in volts; x, y in
 * degrees). Returns 0, changing nothing, when a gain exceeds EYE_GAIN_MAX or an offset EYE_OFFSET_MAX.
 */
uint8_t eye_set_map(const float *c);
/** Maps raw ADC counts to centidegrees. */
void eye_to_centideg(uint16_t x_counts, uint16_t y_counts, int32_t *x, int32_t *y);
/** Window centre and radius in degrees; the state changes after `hold` samples in a row disagree with it. */
void eye_set_window(float cx, float cy, float radius, uint8_t hold);
uint8_t eye_inside(int32_t x, int32_t y);
/** Feeds one sample's inside/outside; returns the new state (0 or 1) when it changed, -1 otherwise. */
int8_t eye_fixation_update(uint8_t inside);
/** The current state: 0, 1, or -1 before the first sample. */
int8_t eye_fixation(void);

#endif
