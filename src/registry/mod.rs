//! Company registration records: import (CSV, JSON Lines, XLSX), unified social
//! credit codes (统一社会信用代码), administrative divisions, registry page profiles.
