"""Calling windows: when a contact may be called, read in the contact's own local time.

- `rules`: the hours (campaign days and hours, the legal bounds per region) and the pure
  calculator (`evaluate`: open now, or when it next opens);
- `location`: where a contact is (its zones and legal regions, from its number or explicit);
- `contact`: one contact's window at an instant, from its location and its campaign's rules.

The calendar they are read against (real time, or a pinned faster one) is `domain/calendar.py`.
"""
