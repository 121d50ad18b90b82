"""Code that exists to serve the book's chapters: glue for the prose (`book`), the studies and steps several
chapters share (`studies`), the helpers of the real-data (`realdata`) and analysis (`analysis`) chapters,
and what chapters emit for the rest of the book (`publish`)."""
