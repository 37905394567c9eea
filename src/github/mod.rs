//! GitHub App authentication and the API calls Maxion makes (issue #3).
