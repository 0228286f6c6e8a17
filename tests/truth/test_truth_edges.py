"""Edge cases of faithcam.truth (issue 23): expected values by hand or brute force."""
