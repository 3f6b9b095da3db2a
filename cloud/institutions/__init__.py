"""Institutions (机构用户) and 机构认证: only members of verified institutions upload."""
