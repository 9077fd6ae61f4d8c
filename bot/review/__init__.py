"""What support leads read from the feedback store: filters, the overview, exports."""
