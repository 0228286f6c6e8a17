"""Edge cases of issue 27's methods, fusion, drop-ins and dense-target metrics."""
